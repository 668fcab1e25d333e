import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/auth/api-keys.ts';
import type { DataChange } from '../../src/cases/change-feed.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
type Json = Record<string, any>;

const BODY_LIMIT = 64 * 1024;

describe('ingest API (single records)', () => {
  let t: TestServices;
  let a: SeededOrg;
  let b: SeededOrg;
  const changes: DataChange[] = [];

  beforeAll(async () => {
    t = await createTestServices({ BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    a = await seedOrg(t.services, 'Firm A');
    b = await seedOrg(t.services, 'Firm B');
    t.services.changeFeed.subscribe((c) => {
      changes.push(c);
    });
  });
  afterAll(async () => t.cleanup());

  const send = (org: SeededOrg, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    t.app.request(path, {
      method,
      headers: { ...bearer(org.apiKey), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const json = async (res: Response): Promise<Json> => (await res.json()) as Json;
  const dataVersion = async (org: SeededOrg) =>
    (await t.services.db.selectFrom('organizations').select('data_version').where('id', '=', org.organizationId).executeTakeFirstOrThrow()).data_version;
  const count = async (table: 'cases' | 'case_events' | 'documents' | 'contacts', org: SeededOrg, externalId: string) =>
    (
      await t.services.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('organization_id', '=', org.organizationId)
        .where('external_id', '=', externalId)
        .executeTakeFirstOrThrow()
    ).n;

  const caseBody = { number: 'PI-2025-0001', title: 'Miller v. Eastside Logistics', clientName: 'Rachel Miller', assignees: ['member@firm-a.example'] };
  const eventBody = {
    caseExternalId: 'case-1',
    kind: 'court_date',
    title: 'Motion hearing',
    location: 'Daley Center, Courtroom 2005',
    start: '2025-03-14T09:30:00-05:00',
    end: '2025-03-14T10:30:00-05:00',
    timeZone: 'America/Chicago',
    participants: [{ name: 'Ada Admin', email: 'admin@firm-a.example', role: 'attorney' }],
  };

  describe('authentication', () => {
    it('answers 401 missing_api_key without a bearer token', async () => {
      const res = await t.app.request('/v1/ingest/cases/case-1');
      expect(res.status).toBe(401);
      expect((await json(res)).error.code).toBe('missing_api_key');
    });

    it('answers 401 invalid_api_key for an unknown or malformed key', async () => {
      for (const key of ['cbk_this-key-does-not-exist', 'not-even-our-format']) {
        const res = await t.app.request('/v1/ingest/cases/case-1', { headers: bearer(key) });
        expect(res.status).toBe(401);
        expect((await json(res)).error.code).toBe('invalid_api_key');
      }
    });

    it('answers 401 revoked_api_key once a key is revoked, while other keys keep working', async () => {
      const extra = await createApiKey(t.services.db, { organizationId: a.organizationId, name: 'to revoke' });
      expect(
        (
          await t.app.request('/v1/ingest/bulk', {
            method: 'POST',
            headers: { ...bearer(extra.apiKey), 'content-type': 'application/json' },
            body: '{"items":[{"op":"delete","type":"case","externalId":"x"}]}',
          })
        ).status,
      ).toBe(200);
      expect(await revokeApiKey(t.services.db, { organizationId: a.organizationId, id: extra.id })).toBe(true);
      const res = await t.app.request('/v1/ingest/cases/case-1', { headers: bearer(extra.apiKey) });
      expect(res.status).toBe(401);
      expect((await json(res)).error.code).toBe('revoked_api_key');
      expect((await send(a, 'GET', '/v1/ingest/cases/nothing-here')).status).toBe(404);
    });
  });

  describe('idempotent upserts', () => {
    it('creates a case once: the same payload twice gives one row and one version', async () => {
      const before = await dataVersion(a);
      changes.length = 0;
      const first = await send(a, 'PUT', '/v1/ingest/cases/case-1', caseBody);
      expect(first.status).toBe(201);
      const created = await json(first);
      expect(created).toMatchObject({ externalId: 'case-1', version: 1, deleted: false, number: 'PI-2025-0001', clientName: 'Rachel Miller' });
      expect(first.headers.get('etag')).toBe('"1"');

      const second = await send(a, 'PUT', '/v1/ingest/cases/case-1', { ...caseBody, assignees: ['MEMBER@firm-a.example'] });
      expect(second.status).toBe(200);
      const again = await json(second);
      expect(again).toEqual(created);
      expect(await count('cases', a, 'case-1')).toBe(1);
      expect(await dataVersion(a)).toBe(before + 1);
      expect(changes).toEqual([{ organizationId: a.organizationId, caseIds: [created.id], entities: ['case'] }]);
    });

    it('bumps the version and updated_at only when the content changes', async () => {
      const before = await json(await send(a, 'GET', '/v1/ingest/cases/case-1'));
      const res = await send(a, 'PUT', '/v1/ingest/cases/case-1', { ...caseBody, status: 'discovery' });
      expect(res.status).toBe(200);
      const after = await json(res);
      expect(after.version).toBe(before.version + 1);
      expect(after.status).toBe('discovery');
      expect(new Date(after.updatedAt).getTime()).toBeGreaterThan(new Date(before.updatedAt).getTime());
    });

    it('stores an event once and reports it with its case', async () => {
      const first = await send(a, 'PUT', '/v1/ingest/events/event-1', eventBody);
      expect(first.status).toBe(201);
      const second = await send(a, 'PUT', '/v1/ingest/events/event-1', { ...eventBody, timeZone: 'america/chicago' });
      expect(second.status).toBe(200);
      const e = await json(second);
      expect(e).toMatchObject({
        version: 1,
        caseExternalId: 'case-1',
        allDay: false,
        start: '2025-03-14T14:30:00.000Z',
        end: '2025-03-14T15:30:00.000Z',
        timeZone: 'America/Chicago',
        startDate: null,
      });
      expect(await count('case_events', a, 'event-1')).toBe(1);
    });

    it('stores an all-day deadline with an inclusive end date', async () => {
      const res = await send(a, 'PUT', '/v1/ingest/events/sol-1', {
        caseExternalId: 'case-1',
        kind: 'deadline',
        title: 'Statute of limitations',
        allDay: true,
        startDate: '2026-05-04',
      });
      expect(res.status).toBe(201);
      expect(await json(res)).toMatchObject({ allDay: true, startDate: '2026-05-04', endDate: '2026-05-04', start: null, timeZone: null });
    });

    it('stores a contact once, with or without a case', async () => {
      const body = {
        name: 'Dana Whitmore',
        emails: ['Dana@Whitmore.example'],
        phones: ['+1 312 555 0142'],
        organizationName: 'Whitmore & Pratt LLP',
        role: 'opposing counsel',
        caseExternalId: 'case-1',
      };
      expect((await send(a, 'PUT', '/v1/ingest/contacts/contact-1', body)).status).toBe(201);
      const again = await send(a, 'PUT', '/v1/ingest/contacts/contact-1', body);
      expect(again.status).toBe(200);
      expect(await json(again)).toMatchObject({ version: 1, emails: ['dana@whitmore.example'], caseExternalId: 'case-1' });
      const loose = await send(a, 'PUT', '/v1/ingest/contacts/contact-2', { name: 'Front desk' });
      expect(await json(loose)).toMatchObject({ caseId: null, caseExternalId: null, emails: [], phones: [] });
    });
  });

  describe('If-Match', () => {
    it('answers 409 version_conflict with the current version when it does not match', async () => {
      const current = (await json(await send(a, 'GET', '/v1/ingest/cases/case-1'))).version as number;
      const res = await send(a, 'PUT', '/v1/ingest/cases/case-1', { ...caseBody, title: 'Changed' }, { 'if-match': String(current + 5) });
      expect(res.status).toBe(409);
      const body = await json(res);
      expect(body.error.code).toBe('version_conflict');
      expect(body.error.details).toEqual({ currentVersion: current });
      expect((await json(await send(a, 'GET', '/v1/ingest/cases/case-1'))).title).toBe(caseBody.title);
    });

    it('applies the change when the version matches, quoted or not', async () => {
      const current = (await json(await send(a, 'GET', '/v1/ingest/cases/case-1'))).version as number;
      const res = await send(a, 'PUT', '/v1/ingest/cases/case-1', { ...caseBody, title: 'Miller v. Eastside' }, { 'if-match': `"${current}"` });
      expect(res.status).toBe(200);
      expect((await json(res)).version).toBe(current + 1);
      const plain = await send(a, 'PUT', '/v1/ingest/cases/case-1', { ...caseBody, title: 'Miller v. Eastside' }, { 'if-match': String(current + 1) });
      expect(plain.status).toBe(200);
    });

    it('treats If-Match: * as "must exist" and refuses a header that is no version', async () => {
      const res = await send(a, 'PUT', '/v1/ingest/cases/never-seen', caseBody, { 'if-match': '*' });
      expect(res.status).toBe(409);
      expect((await json(res)).error.details).toEqual({ currentVersion: null });
      expect(await count('cases', a, 'never-seen')).toBe(0);
      const bad = await send(a, 'PUT', '/v1/ingest/cases/case-1', caseBody, { 'if-match': 'banana' });
      expect(bad.status).toBe(400);
      expect((await json(bad)).error.code).toBe('invalid_if_match');
    });
  });

  describe('validation', () => {
    const cases: Array<[string, string, unknown, string[]]> = [
      ['a case without number and title', '/v1/ingest/cases/v-1', { assignees: ['nope'] }, ['number', 'title', 'assignees.0']],
      ['an event with an unknown zone', '/v1/ingest/events/v-2', { ...eventBody, timeZone: 'Mars/Base' }, ['timeZone']],
      ['an event ending before it starts', '/v1/ingest/events/v-3', { ...eventBody, end: '2025-03-14T08:00:00-05:00' }, ['end']],
      ['a timed event without times', '/v1/ingest/events/v-4', { caseExternalId: 'case-1', kind: 'meeting', title: 'M' }, ['start', 'end', 'timeZone']],
      [
        'an all-day event without a start date',
        '/v1/ingest/events/v-5',
        { caseExternalId: 'case-1', kind: 'deadline', title: 'D', allDay: true },
        ['startDate'],
      ],
      ['an event of an unknown kind', '/v1/ingest/events/v-6', { ...eventBody, kind: 'party' }, ['kind']],
      ['a contact with a bad e-mail', '/v1/ingest/contacts/v-7', { name: 'X', emails: ['nope'] }, ['emails.0']],
      ['a document with bad base64', '/v1/ingest/documents/v-8', { caseExternalId: 'case-1', title: 'T', fileName: 'a.txt', content: '***' }, ['content']],
      ['a document without metadata', '/v1/ingest/documents/v-9', { content: 'aGk=' }, ['caseExternalId', 'title', 'fileName']],
    ];
    for (const [what, path, body, fields] of cases) {
      it(`answers 400 with field details for ${what}`, async () => {
        const res = await send(a, 'PUT', path, body);
        expect(res.status).toBe(400);
        const err = (await json(res)).error;
        expect(err.code).toBe('validation_failed');
        expect(err.details.map((d: { path: string }) => d.path)).toEqual(fields);
        for (const d of err.details) expect(d.message).toEqual(expect.any(String));
      });
    }

    it('answers 400 unknown_case naming caseExternalId when the case does not exist', async () => {
      const res = await send(a, 'PUT', '/v1/ingest/events/orphan', { ...eventBody, caseExternalId: 'no-such-case' });
      expect(res.status).toBe(400);
      const err = (await json(res)).error;
      expect(err.code).toBe('unknown_case');
      expect(err.details).toEqual([{ path: 'caseExternalId', message: expect.stringContaining('no-such-case') }]);
      expect(await count('case_events', a, 'orphan')).toBe(0);
    });

    it('answers 400 for malformed JSON and for an external id with a path separator', async () => {
      const res = await t.app.request('/v1/ingest/cases/c-x', {
        method: 'PUT',
        headers: { ...bearer(a.apiKey), 'content-type': 'application/json' },
        body: '{"number":',
      });
      expect(res.status).toBe(400);
      const bad = await send(a, 'PUT', `/v1/ingest/cases/${encodeURIComponent('a b')}`, caseBody);
      expect(bad.status).toBe(400);
      expect((await json(bad)).error.details[0].path).toBe('externalId');
    });

    it('answers 413 for a body over BODY_LIMIT_BYTES and writes nothing', async () => {
      const res = await send(a, 'PUT', '/v1/ingest/documents/huge', {
        caseExternalId: 'case-1',
        title: 'Huge',
        fileName: 'huge.bin',
        content: Buffer.alloc(BODY_LIMIT).toString('base64'),
      });
      expect(res.status).toBe(413);
      expect((await json(res)).error.code).toBe('payload_too_large');
      expect(await count('documents', a, 'huge')).toBe(0);
    });
  });

  describe('documents', () => {
    it('stores a multipart upload in the blob store under its SHA-256', async () => {
      const bytes = Buffer.from('%PDF-1.4\nA complaint, in brief.\n%%EOF\n');
      const form = new FormData();
      form.append(
        'metadata',
        JSON.stringify({ caseExternalId: 'case-1', title: 'Complaint', fileName: 'complaint.pdf', author: 'Ada Admin', documentDate: '2025-01-15' }),
      );
      form.append('file', new Blob([bytes], { type: 'application/pdf' }), 'complaint.pdf');
      const res = await t.app.request('/v1/ingest/documents/doc-1', { method: 'PUT', headers: bearer(a.apiKey), body: form });
      expect(res.status).toBe(201);
      const doc = await json(res);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      expect(doc).toMatchObject({
        sha256,
        sizeBytes: bytes.length,
        mimeType: 'application/pdf',
        fileName: 'complaint.pdf',
        documentDate: '2025-01-15',
        version: 1,
      });
      expect(Buffer.from((await t.services.blobs.get(sha256))!)).toEqual(bytes);
    });

    it('accepts the same document as JSON with base64 content and leaves it unchanged', async () => {
      const bytes = Buffer.from('%PDF-1.4\nA complaint, in brief.\n%%EOF\n');
      const res = await send(a, 'PUT', '/v1/ingest/documents/doc-1', {
        caseExternalId: 'case-1',
        title: 'Complaint',
        fileName: 'complaint.pdf',
        author: 'Ada Admin',
        documentDate: '2025-01-15',
        content: bytes.toString('base64'),
      });
      expect(res.status).toBe(200);
      expect((await json(res)).version).toBe(1);
    });

    it('names the missing file part of a multipart upload', async () => {
      const form = new FormData();
      form.append('metadata', JSON.stringify({ caseExternalId: 'case-1', title: 'T', fileName: 't.txt' }));
      const res = await t.app.request('/v1/ingest/documents/doc-2', { method: 'PUT', headers: bearer(a.apiKey), body: form });
      expect(res.status).toBe(400);
      expect((await json(res)).error.details).toEqual([{ path: 'file', message: expect.any(String) }]);
      const badMeta = new FormData();
      badMeta.append('metadata', JSON.stringify({ caseExternalId: 'case-1', fileName: 'a/b.txt' }));
      badMeta.append('file', new Blob(['x']), 'b.txt');
      const res2 = await t.app.request('/v1/ingest/documents/doc-2', { method: 'PUT', headers: bearer(a.apiKey), body: badMeta });
      expect((await json(res2)).error.details.map((d: { path: string }) => d.path)).toEqual(['metadata.title', 'metadata.fileName']);
    });
  });

  describe('tombstones', () => {
    it('deleting a case tombstones it and its events, documents and contacts (version + 1)', async () => {
      await send(a, 'PUT', '/v1/ingest/cases/case-del', { ...caseBody, number: 'PI-DEL' });
      await send(a, 'PUT', '/v1/ingest/events/event-del', { ...eventBody, caseExternalId: 'case-del' });
      await send(a, 'PUT', '/v1/ingest/contacts/contact-del', { name: 'Witness', caseExternalId: 'case-del' });
      await send(a, 'PUT', '/v1/ingest/documents/doc-del', { caseExternalId: 'case-del', title: 'Note', fileName: 'n.txt', content: 'aGk=' });
      changes.length = 0;
      const res = await send(a, 'DELETE', '/v1/ingest/cases/case-del');
      expect(res.status).toBe(200);
      const tomb = await json(res);
      expect(tomb).toMatchObject({ deleted: true, version: 2 });
      for (const path of ['/v1/ingest/events/event-del', '/v1/ingest/contacts/contact-del', '/v1/ingest/documents/doc-del']) {
        const child = await json(await send(a, 'GET', path));
        expect(child).toMatchObject({ deleted: true, version: 2 });
      }
      expect(changes).toEqual([{ organizationId: a.organizationId, caseIds: [tomb.id], entities: ['case', 'contact', 'document', 'event'] }]);
      const rows = await t.services.db.selectFrom('case_events').select('deleted_at').where('external_id', '=', 'event-del').execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.deleted_at).toBeInstanceOf(Date);
    });

    it('a second delete changes nothing; an unknown record answers 404', async () => {
      const before = await dataVersion(a);
      const res = await send(a, 'DELETE', '/v1/ingest/cases/case-del');
      expect(res.status).toBe(200);
      expect((await json(res)).version).toBe(2);
      expect(await dataVersion(a)).toBe(before);
      const missing = await send(a, 'DELETE', '/v1/ingest/events/never-existed');
      expect(missing.status).toBe(404);
      expect((await json(missing)).error.code).toBe('not_found');
    });

    it('refuses new events for a deleted case, and revives the case when it is sent again', async () => {
      const orphan = await send(a, 'PUT', '/v1/ingest/events/event-del-2', { ...eventBody, caseExternalId: 'case-del' });
      expect(orphan.status).toBe(409);
      expect((await json(orphan)).error.code).toBe('case_deleted');
      const revived = await send(a, 'PUT', '/v1/ingest/cases/case-del', { ...caseBody, number: 'PI-DEL' });
      expect(revived.status).toBe(200);
      expect(await json(revived)).toMatchObject({ deleted: false, version: 3 });
      const child = await json(await send(a, 'PUT', '/v1/ingest/events/event-del', { ...eventBody, caseExternalId: 'case-del' }));
      expect(child).toMatchObject({ deleted: false, version: 3 });
    });
  });

  describe('organizations are isolated', () => {
    it("answers 404 for another organization's record", async () => {
      for (const path of ['/v1/ingest/cases/case-1', '/v1/ingest/events/event-1', '/v1/ingest/documents/doc-1', '/v1/ingest/contacts/contact-1']) {
        expect((await send(b, 'GET', path)).status).toBe(404);
        expect((await send(b, 'DELETE', path)).status).toBe(404);
      }
      expect((await json(await send(a, 'GET', '/v1/ingest/cases/case-1'))).deleted).toBe(false);
    });

    it("keeps the same external id apart per organization and cannot reach the other's cases", async () => {
      const mine = await send(b, 'PUT', '/v1/ingest/cases/case-1', { number: 'B-1', title: 'Other firm' });
      expect(mine.status).toBe(201);
      expect((await json(await send(a, 'GET', '/v1/ingest/cases/case-1'))).number).toBe('PI-2025-0001');
      const event = await send(b, 'PUT', '/v1/ingest/events/event-b', { ...eventBody, caseExternalId: 'case-1' });
      expect(event.status).toBe(201);
      expect((await json(event)).caseId).toBe((await json(mine)).id);
    });
  });

  describe('cases for signed-in users', () => {
    it('lists the cases assigned to the user (by e-mail) with their live event count', async () => {
      const headers = await signInAs(t.services, { id: a.member.id, organizationId: a.organizationId, role: 'member' });
      await send(a, 'PUT', '/v1/ingest/cases/not-mine', { number: 'PI-ZZZ', title: 'Not assigned' });
      const res = await t.app.request('/v1/cases', { headers });
      expect(res.status).toBe(200);
      const { items: cases, nextCursor } = await json(res);
      expect(nextCursor).toBeNull();
      const numbers = cases.map((c: { number: string }) => c.number);
      expect(numbers).toContain('PI-2025-0001');
      expect(numbers).not.toContain('PI-ZZZ');
      const c1 = cases.find((c: { number: string }) => c.number === 'PI-2025-0001');
      expect(c1).toMatchObject({ title: 'Miller v. Eastside', clientName: 'Rachel Miller', eventCount: 2 });
    });

    it('shows one case to its assignee and to an admin, and 404 to others', async () => {
      const member = await signInAs(t.services, { id: a.member.id, organizationId: a.organizationId, role: 'member' });
      const admin = await signInAs(t.services, { id: a.admin.id, organizationId: a.organizationId, role: 'admin' });
      const otherOrg = await signInAs(t.services, { id: b.admin.id, organizationId: b.organizationId, role: 'admin' });
      const id = (await json(await send(a, 'GET', '/v1/ingest/cases/case-1'))).id;
      const notMine = (await json(await send(a, 'GET', '/v1/ingest/cases/not-mine'))).id;
      expect(await json(await t.app.request(`/v1/cases/${id}`, { headers: member }))).toMatchObject({ id, eventCount: 2, documentCount: 1, contactCount: 1 });
      expect((await t.app.request(`/v1/cases/${notMine}`, { headers: member })).status).toBe(404);
      expect((await t.app.request(`/v1/cases/${notMine}`, { headers: admin })).status).toBe(200);
      expect((await t.app.request(`/v1/cases/${id}`, { headers: otherOrg })).status).toBe(404);
      expect((await t.app.request('/v1/cases/not-a-uuid', { headers: member })).status).toBe(404);
      expect((await t.app.request('/v1/cases')).status).toBe(401);
    });
  });

  describe('API key administration', () => {
    it('lets an admin create, list and revoke keys; a member may not', async () => {
      const admin = await signInAs(t.services, { id: a.admin.id, organizationId: a.organizationId, role: 'admin' });
      const member = await signInAs(t.services, { id: a.member.id, organizationId: a.organizationId, role: 'member' });
      const created = await t.app.request('/v1/admin/api-keys', {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: '{"name":"practice app"}',
      });
      expect(created.status).toBe(201);
      const key = await json(created);
      expect((await t.app.request('/v1/ingest/cases/case-1', { headers: bearer(key.apiKey) })).status).toBe(200);
      const list = await json(await t.app.request('/v1/admin/api-keys', { headers: admin }));
      expect(JSON.stringify(list)).not.toContain(key.apiKey);
      expect(list.items.map((k: { id: string }) => k.id)).toContain(key.id);
      expect(list.nextCursor).toBeNull();
      expect((await t.app.request(`/v1/admin/api-keys/${key.id}`, { method: 'DELETE', headers: member })).status).toBe(403);
      expect((await t.app.request(`/v1/admin/api-keys/${key.id}`, { method: 'DELETE', headers: admin })).status).toBe(204);
      expect((await json(await t.app.request('/v1/ingest/cases/case-1', { headers: bearer(key.apiKey) }))).error.code).toBe('revoked_api_key');
      const otherOrgAdmin = await signInAs(t.services, { id: b.admin.id, organizationId: b.organizationId, role: 'admin' });
      expect((await t.app.request(`/v1/admin/api-keys/${key.id}`, { method: 'DELETE', headers: otherOrgAdmin })).status).toBe(404);
    });
  });
});
