import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
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
