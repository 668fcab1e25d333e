import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/audit/audit-log.ts';
import { recordSecurityEvent } from '../../src/security/events.ts';
import { consent, insertConnection } from '../privacy/helpers.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * "Bad input gets a clear 4xx with a stable code, never a 500". The fuzz over every route is
 * test/integration/api-fuzz.test.ts; here, the cases found one by one.
 */
describe('a platform this deployment cannot connect to', () => {
  let t: TestServices;
  let org: SeededOrg;

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Unconfigured Firm');
  });
  afterAll(async () => t.cleanup());

  it('answers 503 platform_not_configured for a platform without an OAuth client here, and leaves no pending connection', async () => {
    const member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    const res = await t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...member, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('platform_not_configured');
    expect(await t.services.db.selectFrom('connections').select('id').where('organization_id', '=', org.organizationId).execute()).toEqual([]);
  });
});

/**
 * Values out of the database's range, found by an outside review: each was a 500 (and a bulk of
 * 1,000 rolled back with one). Refused at the edge with a 400 naming the field, nothing written.
 */
describe('out-of-range values are 400s naming the field', () => {
  let t: TestServices;
  let org: SeededOrg;
  let admin: Record<string, string>;
  let member: Record<string, string>;

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Range Firm');
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    const res = await ingest('PUT', '/v1/ingest/cases/c1', { number: 'R-1', title: 'Range v. Bounds' });
    expect(res.status).toBe(201);
  });
  afterAll(async () => t.cleanup());

  const ingest = (method: string, path: string, body: unknown) =>
    t.app.request(path, { method, headers: { ...bearer(org.apiKey), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const event = (start: string, end: string) => ({ caseExternalId: 'c1', kind: 'court_date', title: 'Hearing', start, end, timeZone: 'Europe/Berlin' });
  const liveEvents = async () =>
    (await t.services.db.selectFrom('case_events').select('id').where('organization_id', '=', org.organizationId).where('deleted_at', 'is', null).execute())
      .length;
  type Problem = { error: { code: string; details: Array<{ path: string; message: string; index?: number }> } };

  it.each([
    ['year 0', '0000-06-01T10:00:00Z', '0000-06-01T11:00:00Z', 'start'],
    ['year 0 in UTC (year 1 at +14:00)', '0001-01-01T09:00:00+14:00', '2026-01-01T11:00:00Z', 'start'],
    ['year 10000 in UTC (9999 at -14:00)', '2026-01-01T10:00:00Z', '9999-12-31T23:00:00-14:00', 'end'],
  ])('refuses an event instant in %s with 400 naming the field', async (_what, start, end, field) => {
    const res = await ingest('PUT', '/v1/ingest/events/e-range', event(start, end));
    expect(res.status).toBe(400);
    const body = (await res.json()) as Problem;
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.details).toContainEqual({ path: field, message: expect.stringContaining('0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z') });
    expect(await liveEvents()).toBe(0);
  });

  it('accepts the first and last instants of the range', async () => {
    const res = await ingest('PUT', '/v1/ingest/events/e-edges', event('0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z'));
    expect(res.status).toBe(201);
    expect((await ingest('DELETE', '/v1/ingest/events/e-edges', undefined)).status).toBe(200);
  });

  it('refuses a bulk of 1,000 events with one in year 0: 400 naming the item and field, nothing written', async () => {
    const before = await liveEvents();
    const items = Array.from({ length: 1000 }, (_, i) => ({
      op: 'upsert',
      type: 'event',
      externalId: `bulk-${i}`,
      data: i === 617 ? event('0000-03-01T10:00:00Z', '2026-03-01T11:00:00Z') : event('2026-03-01T10:00:00Z', '2026-03-01T11:00:00Z'),
    }));
    const res = await ingest('POST', '/v1/ingest/bulk', { items });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Problem;
    expect(body.error.details).toEqual([expect.objectContaining({ index: 617, path: 'items.617.data.start' })]);
    expect(await liveEvents()).toBe(before);
  });

  it('refuses a bulk item ifVersion beyond the integer column with 400', async () => {
    const res = await ingest('POST', '/v1/ingest/bulk', { items: [{ op: 'delete', type: 'case', externalId: 'c1', ifVersion: 99_999_999_999 }] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Problem).error.details[0]!.path).toBe('items.0.ifVersion');
  });

  it('refuses an invitation accept whose body is a broken multipart form with 403, not 500 (found by the fuzz)', async () => {
    const res = await t.app.request('/invitations/%FF/accept', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b' }, body: '' });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('did not come from this site');
  });

  it('answers a consent receipt of version 99999999999 with 400, not 500', async () => {
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const ok = await t.app.request(`/v1/connections/${connectionId}/consents/1/receipt`, { headers: member });
    expect(ok.status).toBe(200);
    for (const version of ['99999999999', '2147483648']) {
      const res = await t.app.request(`/v1/connections/${connectionId}/consents/${version}/receipt`, { headers: member });
      expect(res.status).toBe(400);
      expect(((await res.json()) as Problem).error.details).toEqual([expect.objectContaining({ path: 'version' })]);
    }
    expect((await t.app.request(`/v1/connections/${connectionId}/consents/2147483647/receipt`, { headers: member })).status).toBe(404);
  });

  it.each(['/v1/admin/audit', '/v1/transfers'])('refuses %s time filters outside years 0001–9999 with 400 naming the parameter', async (path) => {
    for (const [param, value] of [
      ['from', '0000-01-01T00:00:00Z'],
      ['to', '0001-01-01T00:00:00+01:00'],
    ] as const) {
      const res = await t.app.request(`${path}?${param}=${encodeURIComponent(value)}`, { headers: admin });
      expect(res.status).toBe(400);
      expect(((await res.json()) as Problem).error.details).toEqual([expect.objectContaining({ path: param })]);
    }
  });

  const forged = (text: string) => Buffer.from(text).toString('base64url');
  const uuid = '00000000-0000-4000-8000-000000000000';
  describe.each([
    ['/v1/admin/audit', 'audit'],
    ['/v1/admin/security-events', 'security'],
  ])('%s cursors', (path, log) => {
    it.each([
      ['a time before year 1', `0000-01-01T00:00:00.000Z|${uuid}`],
      ['a time after year 9999', `+275760-09-13T00:00:00.000Z|${uuid}`],
      ['the earliest JavaScript time', `-271821-04-20T00:00:00.000Z|${uuid}`],
      ['a time not written by the API', `99999|${uuid}`],
      ['a non-UUID id', '2026-01-01T00:00:00.000Z|------------------------------------'],
      ['an extra field', `2026-01-01T00:00:00.000Z|${uuid}|x`],
    ])('refuses a cursor with %s: 400 invalid_cursor', async (_what, text) => {
      const res = await t.app.request(`${path}?cursor=${forged(text)}`, { headers: admin });
      expect(res.status).toBe(400);
      expect(((await res.json()) as Problem).error.code).toBe('invalid_cursor');
    });

    it('pages with the cursors it returns, each entry once', async () => {
      for (let i = 0; i < 3; i++) {
        if (log === 'audit')
          await recordAudit(t.services.db, {
            organizationId: org.organizationId,
            actor: { kind: 'system', reason: 'test' },
            action: 'fuzz.page',
            target: `n:${i}`,
          });
        else await recordSecurityEvent(t.services.db, { organizationId: org.organizationId, kind: 'login', outcome: 'success', method: 'test' });
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.app.request(`${path}?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { headers: admin });
        expect(res.status).toBe(200);
        const page = (await res.json()) as Record<string, Array<{ id: string }>> & { nextCursor: string | null };
        seen.push(...page.items!.map((e) => e.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(new Set(seen).size).toBe(seen.length);
    });
  });
});
