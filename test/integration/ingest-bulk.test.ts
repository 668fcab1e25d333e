import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataChange } from '../../src/cases/change-feed.ts';
import { bearer, type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
type Json = Record<string, any>;

/** 50 cases and 950 events (19 per case) referring to them: 1,000 items. */
function thousandItems(prefix: string) {
  const items: Array<Record<string, unknown>> = [];
  for (let c = 0; c < 50; c++) {
    items.push({
      op: 'upsert',
      type: 'case',
      externalId: `${prefix}-case-${c}`,
      data: { number: `N-${c}`, title: `Case ${c}`, assignees: ['member@bulk-firm.example'] },
    });
  }
  for (let e = 0; e < 950; e++) {
    const day = String(1 + (e % 28)).padStart(2, '0');
    items.push({
      op: 'upsert',
      type: 'event',
      externalId: `${prefix}-event-${e}`,
      data:
        e % 5 === 0
          ? { caseExternalId: `${prefix}-case-${e % 50}`, kind: 'deadline', title: `Deadline ${e}`, allDay: true, startDate: `2026-02-${day}` }
          : {
              caseExternalId: `${prefix}-case-${e % 50}`,
              kind: 'meeting',
              title: `Meeting ${e}`,
              start: `2026-02-${day}T15:00:00Z`,
              end: `2026-02-${day}T16:00:00Z`,
              timeZone: e % 2 ? 'America/New_York' : 'Europe/Berlin',
              participants: [{ name: 'Ann', email: 'ann@x.example' }],
            },
    });
  }
  return items;
}

describe('POST /v1/ingest/bulk', () => {
  let t: TestServices;
  let org: SeededOrg;
  const changes: DataChange[] = [];

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Bulk Firm');
    t.services.changeFeed.subscribe((c) => {
      changes.push(c);
    });
  });
  afterAll(async () => t.cleanup());

  const bulk = (items: unknown[]) =>
    t.app.request('/v1/ingest/bulk', {
      method: 'POST',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
    });
  const json = async (res: Response): Promise<Json> => (await res.json()) as Json;
  const rows = async (table: 'cases' | 'case_events' | 'documents' | 'contacts', prefix: string) =>
    (
      await t.services.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('organization_id', '=', org.organizationId)
        .where('external_id', 'like', `${prefix}-%`)
        .executeTakeFirstOrThrow()
    ).n;
  const dataVersion = async () =>
    (await t.services.db.selectFrom('organizations').select('data_version').where('id', '=', org.organizationId).executeTakeFirstOrThrow()).data_version;

  it('applies 1,000 items in one request, events referring to cases of the same request', async () => {
    const before = await dataVersion();
    changes.length = 0;
    const res = await bulk(thousandItems('ok'));
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.summary).toEqual({ created: 1000, updated: 0, unchanged: 0, deleted: 0, notFound: 0 });
    expect(body.results).toHaveLength(1000);
    expect(body.results[60]).toMatchObject({ index: 60, type: 'event', externalId: 'ok-event-10', status: 'created', version: 1 });
    expect(await rows('cases', 'ok')).toBe(50);
    expect(await rows('case_events', 'ok')).toBe(950);
    expect(await dataVersion()).toBe(before + 1);
    expect(changes).toHaveLength(1);
    expect(changes[0]!.caseIds).toHaveLength(50);
    expect(changes[0]!.entities).toEqual(['case', 'event']);
  });

  it('is idempotent: sending the same 1,000 items again changes nothing and announces nothing', async () => {
    const before = await dataVersion();
    changes.length = 0;
    const body = await json(await bulk(thousandItems('ok')));
    expect(body.summary).toEqual({ created: 0, updated: 0, unchanged: 1000, deleted: 0, notFound: 0 });
    expect(body.results.every((r: { version: number }) => r.version === 1)).toBe(true);
    expect(await rows('case_events', 'ok')).toBe(950);
    expect(await dataVersion()).toBe(before);
    expect(changes).toEqual([]);
  });

  it('writes nothing when one of 1,000 items is invalid, and names the item and field', async () => {
    const items = thousandItems('bad');
    (items[637]!.data as Record<string, unknown>).timeZone = 'Atlantis/Capital';
    (items[901]!.data as Record<string, unknown>).kind = 'party';
    changes.length = 0;
    const res = await bulk(items);
    expect(res.status).toBe(400);
    const err = (await json(res)).error;
    expect(err.code).toBe('validation_failed');
    expect(err.details).toEqual([
      { index: 637, path: 'items.637.data.timeZone', message: expect.any(String) },
      { index: 901, path: 'items.901.data.kind', message: expect.any(String) },
    ]);
    expect(await rows('cases', 'bad')).toBe(0);
    expect(await rows('case_events', 'bad')).toBe(0);
    expect(changes).toEqual([]);
  });

  it('answers 400 (not a database error) for a NUL character, and stores text exactly, Unicode and JSON-looking text included', async () => {
    const items = thousandItems('nul');
    (items[412]!.data as Record<string, unknown>).title = 'Hearing\u0000';
    const res = await bulk(items);
    expect(res.status).toBe(400);
    const err = (await json(res)).error;
    expect(err.code).toBe('invalid_text');
    expect(err.details).toEqual([{ path: 'items.412.data.title', message: expect.stringContaining('NUL') }]);
    expect(await rows('case_events', 'nul')).toBe(0);

    const tricky = 'Müller \u{1F600} "quoted" \\ {"a":1} [1,2] null \u2028 line\nbreak';
    const ok = await bulk([
      { op: 'upsert', type: 'case', externalId: 'txt-c', data: { number: tricky, title: 'null', assignees: ['Ann@X.example'] } },
      {
        op: 'upsert',
        type: 'event',
        externalId: 'txt-e',
        data: { caseExternalId: 'txt-c', kind: 'deadline', title: tricky, allDay: true, startDate: '2026-02-28', participants: [{ name: tricky }] },
      },
    ]);
    expect(ok.status).toBe(200);
    const c = await t.services.db.selectFrom('cases').selectAll().where('external_id', '=', 'txt-c').executeTakeFirstOrThrow();
    expect([c.number, c.title, c.assignees]).toEqual([tricky, 'null', ['ann@x.example']]);
    const e = await t.services.db.selectFrom('case_events').selectAll().where('external_id', '=', 'txt-e').executeTakeFirstOrThrow();
    expect([e.title, e.start_date, e.end_date, e.participants]).toEqual([tricky, '2026-02-28', '2026-02-28', [{ name: tricky }]]);
  });

  it('rolls back everything when an item refers to a case that does not exist', async () => {
    const items = thousandItems('orphan');
    (items[999]!.data as Record<string, unknown>).caseExternalId = 'no-such-case';
    const before = await dataVersion();
    changes.length = 0;
    const res = await bulk(items);
    expect(res.status).toBe(400);
    const err = (await json(res)).error;
    expect(err.code).toBe('unknown_case');
    expect(err.details).toEqual([
      { index: 999, externalId: 'orphan-event-949', path: 'items.999.data.caseExternalId', message: expect.stringContaining('no-such-case') },
    ]);
    expect(await rows('cases', 'orphan')).toBe(0);
    expect(await rows('case_events', 'orphan')).toBe(0);
    expect(await dataVersion()).toBe(before);
    expect(changes).toEqual([]);
  });

  it('names envelope errors (op, type, externalId) with their index', async () => {
    const res = await bulk([
      { op: 'upsert', type: 'case', externalId: 'fine', data: { number: '1', title: 'ok' } },
      { op: 'merge', type: 'case', externalId: 'x' },
      { op: 'upsert', type: 'matter', externalId: 'y', data: {} },
      { op: 'upsert', type: 'case', externalId: 'has space', data: {} },
    ]);
    expect(res.status).toBe(400);
    const details = (await json(res)).error.details;
    expect(details.map((d: { index: number; path: string }) => [d.index, d.path])).toEqual([
      [1, 'items.1.op'],
      [2, 'items.2.type'],
      [3, 'items.3.externalId'],
    ]);
    expect(await rows('cases', 'fine')).toBe(0);
  });

  it('requires data for upserts and refuses a record named twice', async () => {
    const missing = await bulk([{ op: 'upsert', type: 'contact', externalId: 'k-1' }]);
    expect((await json(missing)).error.details).toEqual([{ index: 0, path: 'items.0.data', message: expect.any(String) }]);
    const twice = await bulk([
      { op: 'upsert', type: 'contact', externalId: 'k-1', data: { name: 'A' } },
      { op: 'delete', type: 'contact', externalId: 'k-1' },
    ]);
    expect(twice.status).toBe(400);
    const err = (await json(twice)).error;
    expect(err.code).toBe('duplicate_item');
    expect(err.details[0]).toMatchObject({ index: 1, path: 'items.1.externalId' });
  });

  it('refuses more than BULK_MAX_ITEMS items', async () => {
    const max = t.config.BULK_MAX_ITEMS;
    const items = Array.from({ length: max + 1 }, (_, i) => ({ op: 'delete', type: 'contact', externalId: `k-${i}` }));
    const res = await bulk(items);
    expect(res.status).toBe(400);
    expect((await json(res)).error.details[0].path).toBe('items');
  });

  it('mixes types: documents with base64 content, contacts, updates and deletes with cascade', async () => {
    const content = Buffer.from('Medical records summary\n');
    const res = await bulk([
      { op: 'upsert', type: 'case', externalId: 'mix-case', data: { number: 'M-1', title: 'Mixed' } },
      {
        op: 'upsert',
        type: 'document',
        externalId: 'mix-doc',
        data: { caseExternalId: 'mix-case', title: 'Records', fileName: 'records.txt', content: content.toString('base64') },
      },
      { op: 'upsert', type: 'contact', externalId: 'mix-contact', data: { name: 'Adjuster', caseExternalId: 'mix-case' } },
      { op: 'upsert', type: 'case', externalId: 'ok-case-0', data: { number: 'N-0', title: 'Case 0 (renamed)', assignees: ['member@bulk-firm.example'] } },
      { op: 'delete', type: 'case', externalId: 'ok-case-1' },
      { op: 'delete', type: 'event', externalId: 'never-existed' },
    ]);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(['created', 'created', 'created', 'updated', 'deleted', 'not_found']);
    expect(body.results[3].version).toBe(2);
    expect(body.cascaded).toBe(19); // the events of ok-case-1
    const doc = await t.services.db.selectFrom('documents').selectAll().where('external_id', '=', 'mix-doc').executeTakeFirstOrThrow();
    expect(doc.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    expect(doc.mime_type).toBe('text/plain');
    const events = await t.services.db
      .selectFrom('case_events as e')
      .innerJoin('cases as c', 'c.id', 'e.case_id')
      .select(['e.deleted_at', 'e.version'])
      .where('c.external_id', '=', 'ok-case-1')
      .execute();
    expect(events).toHaveLength(19);
    expect(events.every((e) => e.deleted_at !== null && e.version === 2)).toBe(true);
  });

  it('checks ifVersion per item and reports every conflict with its index', async () => {
    const res = await bulk([
      {
        op: 'upsert',
        type: 'case',
        externalId: 'ok-case-2',
        ifVersion: 1,
        data: { number: 'N-2', title: 'Case 2 v2', assignees: ['member@bulk-firm.example'] },
      },
      { op: 'upsert', type: 'case', externalId: 'ok-case-3', ifVersion: 7, data: { number: 'N-3', title: 'Case 3 v2' } },
      { op: 'delete', type: 'event', externalId: 'ok-event-4', ifVersion: 3 },
    ]);
    expect(res.status).toBe(409);
    const err = (await json(res)).error;
    expect(err.code).toBe('version_conflict');
    expect(err.details.map((d: { index: number; currentVersion: number }) => [d.index, d.currentVersion])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    const unchanged = await t.services.db.selectFrom('cases').select('title').where('external_id', '=', 'ok-case-2').executeTakeFirstOrThrow();
    expect(unchanged.title).toBe('Case 2');
  });
});
