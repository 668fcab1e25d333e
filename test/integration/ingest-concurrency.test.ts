import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
type Json = Record<string, any>;

/**
 * Ingest requests racing each other on one database. On PostgreSQL the requests of a trial really
 * interleave (a pool of 10 connections); on PGlite (one connection) they run one after the other in
 * some order, and the same invariants must hold.
 */
/** On PGlite each request waits its turn, and this machine's tests share two cores: room for 150 trials. */
const RACE_TIMEOUT = 180_000;

describe('ingest under concurrency', () => {
  let t: TestServices;
  let org: SeededOrg;

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Race Firm');
  });
  afterAll(async () => t.cleanup());

  const send = (method: string, path: string, body?: unknown) =>
    t.app.request(path, {
      method,
      headers: { ...bearer(org.apiKey), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const json = async (res: Response): Promise<Json> => (await res.json()) as Json;

  const caseBody = (n: string) => ({ number: `R-${n}`, title: `Race ${n}` });
  const eventBody = (caseExternalId: string, title = 'Hearing') => ({
    caseExternalId,
    kind: 'court_date',
    title,
    start: '2027-01-10T09:00:00Z',
    end: '2027-01-10T10:00:00Z',
    timeZone: 'Europe/Berlin',
  });
  const documentBody = (caseExternalId: string) => ({ caseExternalId, title: 'Memo', fileName: 'memo.txt', content: 'bWVtbw==' });
  const contactBody = (caseExternalId: string) => ({ name: 'Witness', caseExternalId });

  /** Live events, documents and contacts whose case is a tombstone: must always be none. */
  const liveChildrenOfDeletedCases = async (): Promise<Array<{ kind: string; external_id: string }>> => {
    const { rows } = await sql<{ kind: string; external_id: string }>`
      SELECT 'event' AS kind, x.external_id FROM case_events x JOIN cases c ON c.id = x.case_id
        WHERE x.organization_id = ${org.organizationId} AND x.deleted_at IS NULL AND c.deleted_at IS NOT NULL
      UNION ALL
      SELECT 'document', x.external_id FROM documents x JOIN cases c ON c.id = x.case_id
        WHERE x.organization_id = ${org.organizationId} AND x.deleted_at IS NULL AND c.deleted_at IS NOT NULL
      UNION ALL
      SELECT 'contact', x.external_id FROM contacts x JOIN cases c ON c.id = x.case_id
        WHERE x.organization_id = ${org.organizationId} AND x.deleted_at IS NULL AND c.deleted_at IS NOT NULL`.execute(t.services.db);
    return rows;
  };

  /** A child write that lost the race is refused with 409 case_deleted and leaves no row behind. */
  const expectWrittenOrRefused = async (res: Response, path: string) => {
    if (res.status === 201 || res.status === 200) return 'written';
    expect(res.status, `${path}: ${res.status}`).toBe(409);
    expect((await json(res)).error.code).toBe('case_deleted');
    expect((await send('GET', path)).status).toBe(404);
    return 'refused';
  };

  it(
    '150 trials of an event, a document and a contact PUT racing the DELETE of their case leave no live child under a deleted case',
    async () => {
      const seen = { written: 0, refused: 0 };
      for (let i = 0; i < 150; i++) {
        const c = `race-case-${i}`;
        expect((await send('PUT', `/v1/ingest/cases/${c}`, caseBody(String(i)))).status).toBe(201);
        const paths = [`/v1/ingest/events/race-event-${i}`, `/v1/ingest/documents/race-doc-${i}`, `/v1/ingest/contacts/race-contact-${i}`];
        const [event, document, contact, deleted] = await Promise.all([
          send('PUT', paths[0]!, eventBody(c)),
          send('PUT', paths[1]!, documentBody(c)),
          send('PUT', paths[2]!, contactBody(c)),
          send('DELETE', `/v1/ingest/cases/${c}`),
        ]);
        expect(deleted.status).toBe(200);
        expect(await json(deleted)).toMatchObject({ deleted: true });
        for (const [k, res] of [event, document, contact].entries()) seen[await expectWrittenOrRefused(res!, paths[k]!)]++;
      }
      expect(await liveChildrenOfDeletedCases()).toEqual([]);
      expect(seen.written + seen.refused).toBe(450);
    },
    RACE_TIMEOUT,
  );

  it(
    'a bulk of events racing the DELETE of their case is all written then tombstoned, or refused as a whole',
    async () => {
      for (let i = 0; i < 30; i++) {
        const c = `bulk-race-case-${i}`;
        expect((await send('PUT', `/v1/ingest/cases/${c}`, caseBody(`b${i}`))).status).toBe(201);
        const items = Array.from({ length: 40 }, (_, k) => ({ op: 'upsert', type: 'event', externalId: `bulk-race-${i}-${k}`, data: eventBody(c, `E${k}`) }));
        const [bulk, deleted] = await Promise.all([send('POST', '/v1/ingest/bulk', { items }), send('DELETE', `/v1/ingest/cases/${c}`)]);
        expect(deleted.status).toBe(200);
        if (bulk.status !== 200) {
          expect(bulk.status).toBe(409);
          const err = (await json(bulk)).error;
          expect(err.code).toBe('case_deleted');
          expect(err.details).toHaveLength(40);
          expect(err.details[0]).toMatchObject({ index: 0, path: 'items.0.data.caseExternalId' });
          expect((await send('GET', `/v1/ingest/events/bulk-race-${i}-0`)).status).toBe(404);
        }
      }
      expect(await liveChildrenOfDeletedCases()).toEqual([]);
    },
    RACE_TIMEOUT,
  );

  it('refuses a child of a tombstoned case with 409 case_deleted and of a missing case with 400 unknown_case, writing nothing', async () => {
    await send('PUT', '/v1/ingest/cases/gone', caseBody('gone'));
    await send('DELETE', '/v1/ingest/cases/gone');
    for (const [path, body] of [
      ['/v1/ingest/events/gone-e', eventBody('gone')],
      ['/v1/ingest/documents/gone-d', documentBody('gone')],
      ['/v1/ingest/contacts/gone-k', contactBody('gone')],
    ] as const) {
      const res = await send('PUT', path, body);
      expect(res.status).toBe(409);
      const err = (await json(res)).error;
      expect(err.code).toBe('case_deleted');
      expect(err.details).toEqual([{ path: 'caseExternalId', message: expect.stringContaining('"gone" was deleted') }]);
      expect((await send('GET', path)).status).toBe(404);
      const missing = await send('PUT', path, { ...body, caseExternalId: 'never-was' });
      expect(missing.status).toBe(400);
      expect((await json(missing)).error.code).toBe('unknown_case');
    }
  });

  it('in a bulk, names every item whose case is missing or deleted, and accepts children of a case revived in the same bulk', async () => {
    await send('PUT', '/v1/ingest/cases/gone-bulk', caseBody('gone-bulk'));
    await send('DELETE', '/v1/ingest/cases/gone-bulk');
    const mixed = await send('POST', '/v1/ingest/bulk', {
      items: [
        { op: 'upsert', type: 'event', externalId: 'mix-0', data: eventBody('gone-bulk') },
        { op: 'upsert', type: 'contact', externalId: 'mix-1', data: contactBody('never-was') },
      ],
    });
    expect(mixed.status).toBe(400);
    const err = (await json(mixed)).error;
    expect(err.code).toBe('unknown_case');
    expect(err.details.map((d: { path: string; message: string }) => [d.path, d.message.includes('was deleted')])).toEqual([
      ['items.0.data.caseExternalId', true],
      ['items.1.data.caseExternalId', false],
    ]);
    const revived = await send('POST', '/v1/ingest/bulk', {
      items: [
        { op: 'upsert', type: 'event', externalId: 'mix-0', data: eventBody('gone-bulk') },
        { op: 'upsert', type: 'case', externalId: 'gone-bulk', data: caseBody('gone-bulk') },
      ],
    });
    expect(revived.status).toBe(200);
    expect((await json(revived)).results.map((r: { status: string }) => r.status)).toEqual(['created', 'updated']);
    expect(await liveChildrenOfDeletedCases()).toEqual([]);
  });

  it('reviving a case brings back none of the children deleted with it; each comes back only when sent again', async () => {
    await send('PUT', '/v1/ingest/cases/revived', caseBody('revived'));
    await send('PUT', '/v1/ingest/events/revived-e', eventBody('revived'));
    await send('PUT', '/v1/ingest/contacts/revived-k', contactBody('revived'));
    await send('DELETE', '/v1/ingest/cases/revived');
    const again = await send('PUT', '/v1/ingest/cases/revived', caseBody('revived'));
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ deleted: false, version: 3 });
    expect(await json(await send('GET', '/v1/ingest/events/revived-e'))).toMatchObject({ deleted: true, version: 2 });
    expect(await json(await send('GET', '/v1/ingest/contacts/revived-k'))).toMatchObject({ deleted: true, version: 2 });
    const resent = await send('PUT', '/v1/ingest/events/revived-e', eventBody('revived'));
    expect(resent.status).toBe(200);
    expect(await json(resent)).toMatchObject({ deleted: false, version: 3 });
    expect(await json(await send('GET', '/v1/ingest/contacts/revived-k'))).toMatchObject({ deleted: true });
  });

  it('20 concurrent PUTs of different content to one new id: each answer shows its own content and version, exactly one is 201', async () => {
    await send('PUT', '/v1/ingest/cases/many', caseBody('many'));
    for (const [path, body] of [
      ['/v1/ingest/events/many-e', (k: number) => eventBody('many', `Title ${k}`)],
      ['/v1/ingest/cases/many-c', (k: number) => ({ number: 'M-1', title: `Title ${k}` })],
      ['/v1/ingest/contacts/many-k', (k: number) => ({ name: `Title ${k}`, caseExternalId: 'many' })],
    ] as const) {
      const responses = await Promise.all(Array.from({ length: 20 }, (_, k) => send('PUT', path, body(k))));
      const answers = await Promise.all(
        responses.map(async (res, k) => {
          expect([200, 201], `${path} #${k}`).toContain(res.status);
          const b = await json(res);
          const name = 'name' in b ? b.name : b.title;
          expect(name, `${path} #${k} shows another request's content`).toBe(`Title ${k}`);
          expect(res.headers.get('etag')).toBe(`"${b.version}"`);
          return { status: res.status, version: b.version as number };
        }),
      );
      expect(answers.filter((a) => a.status === 201)).toEqual([{ status: 201, version: 1 }]);
      expect(new Set(answers.map((a) => a.version)).size).toBe(20);
      expect(answers.map((a) => a.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
    }
  });

  it('two identical bulks creating the same records at once report each record created exactly once', async () => {
    await send('PUT', '/v1/ingest/cases/twin', caseBody('twin'));
    for (let i = 0; i < 10; i++) {
      const items = Array.from({ length: 30 }, (_, k) => ({ op: 'upsert', type: 'event', externalId: `twin-${i}-${k}`, data: eventBody('twin', `T${k}`) }));
      const answers = await Promise.all([send('POST', '/v1/ingest/bulk', { items }), send('POST', '/v1/ingest/bulk', { items })]);
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      const summaries = await Promise.all(answers.map(async (res) => (await json(res)).summary));
      expect(summaries[0].created + summaries[1].created).toBe(30);
      expect(summaries[0].unchanged + summaries[1].unchanged).toBe(30);
    }
  });

  it(
    'two bulks that lock the same events in opposite orders both succeed, as if one ran after the other',
    async () => {
      await send('PUT', '/v1/ingest/cases/cross', caseBody('cross'));
      for (let i = 0; i < 8; i++) {
        const [x, y] = [`cross-${i}-x`, `cross-${i}-y`];
        for (const id of [x, y]) expect((await send('PUT', `/v1/ingest/events/${id}`, eventBody('cross'))).status).toBe(201);
        // Each bulk writes one event and deletes the other: the upsert locks one row, the delete then waits
        // for the row the other bulk holds. PostgreSQL breaks the cycle by failing one; it is run again.
        const upsertThenDelete = (keep: string, drop: string) => ({
          items: [
            { op: 'upsert', type: 'event', externalId: keep, data: eventBody('cross', `kept ${keep}`) },
            { op: 'delete', type: 'event', externalId: drop },
          ],
        });
        const answers = await Promise.all([send('POST', '/v1/ingest/bulk', upsertThenDelete(x, y)), send('POST', '/v1/ingest/bulk', upsertThenDelete(y, x))]);
        expect(answers.map((r) => r.status)).toEqual([200, 200]);
        const live = await Promise.all([x, y].map(async (id) => !(await json(await send('GET', `/v1/ingest/events/${id}`))).deleted));
        expect(live.filter(Boolean)).toHaveLength(1);
      }
    },
    RACE_TIMEOUT,
  );

  it('20 concurrent identical creates: one 201, nineteen 200 with the same version, no error', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => send('PUT', '/v1/ingest/events/same-e', eventBody('many', 'Same'))));
    expect(responses.map((r) => r.status).sort((x, y) => y - x)).toEqual([201, ...Array<number>(19).fill(200)]);
    for (const res of responses) expect(await json(res)).toMatchObject({ title: 'Same', version: 1 });
  });
});
