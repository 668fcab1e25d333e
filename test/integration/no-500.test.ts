import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { recordAudit } from '../../src/audit/audit-log.ts';
import { recordSecurityEvent } from '../../src/security/events.ts';
import { consent, insertConnection } from '../privacy/helpers.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * "Bad input gets a clear 4xx with a stable code, never a 500": arbitrary JSON bodies — random
 * values, and valid requests with one field replaced by a random value (strings with NUL, lone
 * surrogates, huge numbers, nested objects…) — sent to every state-changing route of the OpenAPI
 * document, as an organization admin, a member and the ingest API key. Every answer is below 500
 * and, when 4xx, has the error shape with a snake_case code.
 */
describe('no input makes the API answer 500', () => {
  let t: TestServices;
  let org: SeededOrg;
  let callers: Array<Record<string, string>>;
  let routes: Array<{ method: string; path: string; template: string | undefined }>;

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Fuzz Firm');
    callers = [
      await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' }),
      await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' }),
      bearer(org.apiKey),
    ];
    const doc = (await (await t.app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((m) => m !== 'get')
        // Real ids where the route names one is not needed: a random one must be a 404, not a 500.
        .map((method) => ({
          method: method.toUpperCase(),
          path: path.replace(/\{platform\}/, 'google_calendar').replace(/\{externalId\}/, 'fuzz-1').replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000'),
          template: path in templates ? path : undefined,
        })),
    );
    expect(routes.length).toBeGreaterThan(20);
  });
  afterAll(async () => t.cleanup());

  // Values that have broken services before: control characters, surrogates, big and odd numbers.
  const nasty = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.constantFrom('\u0000', 'a\uD800', '\uDC00', '\u2028', '%00', "'; DROP TABLE cases; --", '9999-12-31', '0000-00-00', '-1', ''),
    fc.double(),
    fc.bigInt().map((n) => Number(n)),
    fc.constantFrom(1e308, -0, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  );
  // Near-valid bodies of the main state-changing routes (by path), each sent with one member replaced.
  const templates: Record<string, Record<string, unknown>> = {
    '/v1/ingest/bulk': {
      items: [{ op: 'upsert', type: 'event', externalId: 'e1', data: { caseExternalId: 'c1', kind: 'meeting', title: 'T', start: '2026-01-01T10:00:00Z', end: '2026-01-01T11:00:00Z', timeZone: 'Europe/Berlin' } }],
    },
    '/v1/ingest/cases/{externalId}': { number: 'PI-1', title: 'T', clientName: 'C', status: 'open', assignees: ['a@b.example'] },
    '/v1/ingest/contacts/{externalId}': { name: 'N', emails: ['a@b.example'], phones: ['+1 312 555 0100'], organizationName: 'O', role: 'r' },
    '/v1/ical-feeds': { name: 'Feed', categories: ['calendar.events'], caseScope: { kind: 'all' } },
    '/v1/admin/revocations': { target: { kind: 'user', userId: '00000000-0000-4000-8000-000000000000' }, reason: 'r', purgeRemote: false },
    '/v1/admin/platforms/{platform}': { enabled: false, existingConnections: 'pause', reason: 'r' },
    '/v1/admin/api-keys': { name: 'k' },
    '/v1/admin/sign-in-policy': { allowedDomains: ['b.example'], jitProvisioning: true, linkByEmail: false },
    '/v1/connections': { platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: 'a@b.example' },
  };
  const mutate = (template: Record<string, unknown>) =>
    fc.tuple(fc.nat(), nasty).map(([k, value]) => {
      const keys = Object.keys(template);
      return JSON.stringify({ ...template, [keys[k % keys.length]!]: value });
    });
  /** A body for a route: its template with one member replaced (mostly), or any JSON value. */
  const bodyFor = (templatePath: string | undefined) =>
    templatePath
      ? fc.oneof({ arbitrary: mutate(templates[templatePath]!), weight: 4 }, { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 1 })
      : fc.jsonValue().map((v) => JSON.stringify(v));

  it('answers 503 platform_not_configured for a platform without an OAuth client here, and leaves no pending connection', async () => {
    const res = await t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...callers[1]!, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('platform_not_configured');
    expect(await t.services.db.selectFrom('connections').select('id').where('organization_id', '=', org.organizationId).execute()).toEqual([]);
  });

  /** Below 500 — except a platform this deployment has no OAuth client for (the case here): 503 with its code — and, when 4xx, the error shape. */
  const expectNo500 = (what: string, status: number, text: string) => {
    const unconfigured = status === 503 && text.includes('"platform_not_configured"');
    if (status >= 500 && !unconfigured) throw new Error(`${what} answered ${status}: ${text.slice(0, 200)}`);
    if (status >= 400 && status !== 413) expect(JSON.parse(text)).toMatchObject({ error: { code: expect.stringMatching(/^[a-z_]+$/) } });
  };

  it('answers every GET route with < 500 for any value of its query parameters', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>>;
    };
    const gets = Object.entries(doc.paths)
      .filter(([, methods]) => methods.get)
      .map(([path, methods]) => ({
        path: path.replace(/\{platform\}/, 'google_calendar').replace(/\{externalId\}/, 'fuzz-1').replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000'),
        query: (methods.get!.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      }));
    expect(gets.length).toBeGreaterThan(15);
    const value = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('', '-1', '0', '1e309', 'NaN', 'true', '2026-13-45T99:99:99Z', '00000000-0000-4000-8000-000000000000', 'x'.repeat(5000), '%', '\uD800'),
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.array(fc.tuple(fc.nat(), value), { maxLength: 4 }), async (r, c, pairs) => {
        const route = gets[r % gets.length]!;
        const params = new URLSearchParams();
        for (const [k, v] of pairs) if (route.query.length) params.append(route.query[k % route.query.length]!, v);
        const url = `${route.path}${params.size ? `?${params}` : ''}`;
        const res = await t.app.request(url, { headers: callerFor(route.path, c) });
        expectNo500(`GET ${url}`, res.status, await res.text());
      }),
      { numRuns: 500 },
    );
  });

  /** The caller each route is meant for (ingest: the API key; admin routes: an admin), or any. */
  const callerFor = (path: string, c: number) =>
    path.startsWith('/v1/ingest') ? callers[2]! : path.startsWith('/v1/admin') ? callers[0]! : callers[c % 2]!;

  it('answers every route and caller with < 500 and a stable error code', async () => {
    const statuses: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(
        fc.nat().chain((r) => {
          const route = routes[r % routes.length]!;
          return fc.tuple(fc.constant(route), fc.nat(), bodyFor(route.template));
        }),
        async ([route, c, json]) => {
          // Mostly the caller the route is meant for (so bodies reach validation and the handler), sometimes any.
          const headers = c % 5 === 0 ? callers[c % callers.length]! : callerFor(route.path, c);
          const res = await t.app.request(route.path, { method: route.method, headers: { ...headers, 'content-type': 'application/json' }, body: json });
          const text = await res.text();
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          expectNo500(`${route.method} ${route.path} with ${json}`, res.status, text);
        },
      ),
      { numRuns: 800 },
    );
    // The bodies got past authentication: most answers are validation errors or handler outcomes.
    const past = Object.entries(statuses).filter(([s]) => s !== '401' && s !== '403').reduce((n, [, k]) => n + k, 0);
    expect(past).toBeGreaterThan(400);
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
  const liveEvents = async () => (await t.services.db.selectFrom('case_events').select('id').where('organization_id', '=', org.organizationId).where('deleted_at', 'is', null).execute()).length;
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
    ['/v1/admin/audit', 'items'],
    ['/v1/admin/security-events', 'events'],
  ])('%s cursors', (path, list) => {
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
        if (list === 'items') await recordAudit(t.services.db, { organizationId: org.organizationId, actor: { kind: 'system', reason: 'test' }, action: 'fuzz.page', target: `n:${i}` });
        else await recordSecurityEvent(t.services.db, { organizationId: org.organizationId, kind: 'login', outcome: 'success', method: 'test' });
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.app.request(`${path}?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { headers: admin });
        expect(res.status).toBe(200);
        const page = (await res.json()) as Record<string, Array<{ id: string }>> & { nextCursor: string | null };
        seen.push(...page[list]!.map((e) => e.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(new Set(seen).size).toBe(seen.length);
    });
  });
});
