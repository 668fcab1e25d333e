import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertCase, insertConnection } from '../privacy/helpers.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The API fuzz: every route the app has — those of the OpenAPI document it serves, with their path,
 * query and header parameters, plus the undocumented ones it registers (sign-in pages, health) — is
 * sent the shapes that have produced 500s: JSON nested thousands of levels deep, instants in year 0
 * or 10000, out-of-range and huge numbers, invalid dates, non-UUID path parameters, forged page
 * cursors, wrong content types, empty and malformed bodies. Callers are the ingest API key, an
 * admin's and a member's session with the CSRF token (sometimes without it), and nobody. At least
 * 10,000 requests, in batches sent concurrently (`app.request()`, in process); not one answer may be
 * a 5xx, and every JSON 4xx carries `{ error: { code } }` with a snake_case code.
 */

const SUPER_ADMIN_TOKEN = 'fuzz-super-admin-token-0123456789abcdef';
const BATCH = 10;
const RUNS = 1_010;

interface Route {
  method: string;
  /** OpenAPI form: `/v1/connections/{id}`. */
  path: string;
  pathParams: string[];
  query: string[];
  headers: string[];
  /** Media types of the request body the route documents (`[]`: none documented). */
  bodyTypes: string[];
  auth: 'session' | 'apiKey' | 'none';
}

interface OpenApiOperation {
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: { content: Record<string, unknown> };
  security?: Array<Record<string, unknown>>;
}

describe('API fuzz: no request makes the API answer 5xx', () => {
  let t: TestServices;
  let org: SeededOrg;
  let routes: Route[];
  let callers: { admin: Record<string, string>; member: Record<string, string>; apiKey: Record<string, string>; superAdmin: Record<string, string> };
  /** Real ids, so that some requests get past the 404 of an unknown resource. */
  let realIds: string[];

  beforeAll(async () => {
    t = await createTestServices({ SUPER_ADMIN_TOKEN });
    org = await seedOrg(t.services, 'Fuzz Target Firm');
    const bystander = await t.services.db
      .insertInto('users')
      .values({ organization_id: org.organizationId, email: 'bystander@fuzz.example', name: 'By Stander', role: 'member', picture_url: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    realIds = [
      org.organizationId,
      bystander.id,
      await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id }),
      await insertCase(t.services, org.organizationId, 'FZ-1'),
    ];
    callers = {
      admin: await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' }),
      member: await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' }),
      apiKey: bearer(org.apiKey),
      superAdmin: bearer(SUPER_ADMIN_TOKEN),
    };

    const doc = (await (await t.app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, OpenApiOperation>> };
    routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        pathParams: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        headers: (op.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name),
        bodyTypes: Object.keys(op.requestBody?.content ?? {}),
        auth: op.security?.some((s) => 'apiKey' in s) ? 'apiKey' : op.security?.some((s) => 'session' in s) ? 'session' : 'none',
      })),
    );
    // Routes registered outside the OpenAPI document (sign-in pages and callbacks, health, docs).
    const documented = new Set(routes.map((r) => `${r.method} ${r.path}`));
    for (const r of t.app.routes) {
      if (r.method === 'ALL' || r.path.includes('*')) continue;
      const path = r.path.replace(/:(\w+)/g, '{$1}');
      if (documented.has(`${r.method} ${path}`)) continue;
      documented.add(`${r.method} ${path}`);
      routes.push({
        method: r.method,
        path,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
        query: ['state', 'code', 'error', 'returnTo', 'org', 'SAMLRequest', 'SAMLResponse', 'RelayState'],
        headers: [],
        bodyTypes: r.method === 'POST' ? ['application/x-www-form-urlencoded'] : [],
        auth: 'none',
      });
    }
    expect(routes.length).toBeGreaterThan(70);
  });
  afterAll(async () => t.cleanup());

  // --- the shapes ---------------------------------------------------------------------------------

  const instant = fc.constantFrom(
    '0000-01-01T10:00:00Z',
    '10000-01-01T10:00:00Z',
    '+010000-01-01T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    '0001-01-01T00:00:00+14:00',
    '9999-12-31T23:59:59-14:00',
    '2026-02-30T10:00:00Z',
    '2026-13-45T99:99:99Z',
    '2026-03-29T02:30:00+01:00',
    '2026-01-01T10:00:00Z',
  );
  const hugeNumber = fc.constantFrom('99999999999', '2147483648', '9007199254740993', '1e309', '-1', '0', '-0', 'NaN', 'Infinity', '0x10', '1.5');
  const cursor = fc.oneof(
    fc
      .tuple(
        fc.constantFrom('0000-01-01T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'x', ''),
        fc.constantFrom('00000000-0000-4000-8000-000000000000', '------------------------------------', 'not-a-uuid', "'; --", ''),
      )
      .map(([at, id]) => Buffer.from(`${at}|${id}`).toString('base64url')),
    fc.constantFrom('seq:99999999999999999999', 'seq:-1', 'seq:1e9', '|||').map((s) => Buffer.from(s).toString('base64url')),
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(s).toString('base64url')),
  );
  const oddText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom(
      '',
      'not-a-uuid',
      '00000000-0000-0000-0000-000000000000',
      'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ',
      'x'.repeat(5_000),
      '\uD800',
      '\u0000',
      'true',
      'google_calendar',
    ),
  );
  const queryValue = fc.oneof(instant, hugeNumber, cursor, oddText);

  /** A path segment: real ids, random UUIDs, non-UUIDs, huge numbers, odd text and odd escapes. */
  const pathValue = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.uuid(),
        fc.nat(3).map((i) => realIds[i]!),
      ),
    },
    { weight: 2, arbitrary: hugeNumber },
    { weight: 2, arbitrary: oddText.map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '?'))) },
    { weight: 1, arbitrary: fc.constantFrom('%FF', '%E0%A4%A', '..', '.', 'google_calendar', 'fuzz-1', 'feed.ics', '%2F', 'a%00b') },
  );

  /** JSON nested `depth` levels: arrays, objects, or both, optionally around a string the database cannot store. */
  const deepJson = fc.tuple(fc.constantFrom(65, 1_000, 5_000), fc.constantFrom('array', 'object', 'mixed'), fc.boolean()).map(([depth, kind, nul]) => {
    const open = kind === 'array' ? '[' : kind === 'object' ? '{"a":' : '{"a":[';
    const close = kind === 'array' ? ']' : kind === 'object' ? '}' : ']}';
    const levels = kind === 'mixed' ? Math.ceil(depth / 2) : depth;
    return open.repeat(levels) + (nul ? '"\\u0000"' : '1') + close.repeat(levels);
  });

  const nasty = fc.oneof(
    instant,
    hugeNumber.map(Number),
    fc.constantFrom(1e308, -0, 2 ** 53 + 1, 99_999_999_999, -1, 0.5),
    fc.double(),
    fc.bigInt().map((n) => Number(n)),
    oddText,
    fc.constantFrom('\u2028', '%00', "'; DROP TABLE cases; --", '9999-12-31', '0000-00-00', '-1'),
    fc.constantFrom(null, true, [], {}),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const eventData = fc.record({
    caseExternalId: fc.constantFrom('c1', 'fuzz-1'),
    kind: fc.constantFrom('meeting', 'court_date', 'deadline'),
    title: fc.constant('Hearing'),
    start: instant,
    end: instant,
    timeZone: fc.constantFrom('Europe/Berlin', 'America/Chicago', 'Mars/Olympus', '+01:00'),
  });
  /** Near-valid bodies of the state-changing routes, by path: sent with one member replaced by a nasty value. */
  const templates: Record<string, Record<string, unknown>> = {
    '/v1/ingest/cases/{externalId}': { number: 'PI-1', title: 'T', clientName: 'C', status: 'open', assignees: ['a@b.example'] },
    '/v1/ingest/events/{externalId}': {
      caseExternalId: 'c1',
      kind: 'meeting',
      title: 'T',
      start: '2026-01-01T10:00:00Z',
      end: '2026-01-01T11:00:00Z',
      timeZone: 'Europe/Berlin',
    },
    '/v1/ingest/contacts/{externalId}': { name: 'N', emails: ['a@b.example'], phones: ['+1 312 555 0100'], organizationName: 'O', role: 'r' },
    '/v1/ingest/documents/{externalId}': { caseExternalId: 'c1', fileName: 'a.pdf', content: 'JVBERi0=' },
    '/v1/ical-feeds': { name: 'Feed', categories: ['calendar.events'], caseScope: { kind: 'all' } },
    '/v1/admin/revocations': { target: { kind: 'user', userId: '00000000-0000-4000-8000-000000000000' }, reason: 'r', purgeRemote: false },
    '/v1/admin/platforms/{platform}': { enabled: true, existingConnections: 'pause', reason: 'r' },
    '/v1/admin/api-keys': { name: 'k' },
    '/v1/admin/sign-in-policy': { allowedDomains: ['b.example'], jitProvisioning: true, linkByEmail: false },
    '/v1/connections': { platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' } },
    '/v1/connections/{id}/consents': { categories: ['calendar.events'], caseScope: { kind: 'all' }, method: 'api' },
    '/v1/admin/users/{id}': { role: 'member' },
  };
  const mutated = (template: Record<string, unknown>) =>
    fc.tuple(fc.nat(), nasty).map(([k, value]) => {
      const keys = Object.keys(template);
      return JSON.stringify({ ...template, [keys[k % keys.length]!]: value });
    });
  const bulk = fc
    .array(fc.tuple(fc.constantFrom('upsert', 'delete'), eventData, fc.option(hugeNumber.map(Number), { nil: undefined })), { minLength: 1, maxLength: 30 })
    .map((items) => JSON.stringify({ items: items.map(([op, data, ifVersion], i) => ({ op, type: 'event', externalId: `fz-${i}`, data, ifVersion })) }));

  /** A JSON body for a route: mostly near-valid, else deep, malformed, empty or any value. */
  const jsonBody = (path: string) =>
    fc.oneof(
      { weight: 4, arbitrary: path === '/v1/ingest/bulk' ? bulk : templates[path] ? mutated(templates[path]) : fc.jsonValue().map((v) => JSON.stringify(v)) },
      {
        weight: 1,
        arbitrary: path === '/v1/ingest/events/{externalId}' ? eventData.map((d) => JSON.stringify(d)) : fc.jsonValue().map((v) => JSON.stringify(v)),
      },
      { weight: 2, arbitrary: deepJson },
      { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":', 'null', '[]', '1e999', '{"a":1,"a":2}', '\uFEFF{}', '"\\ud800"', '{"\\u0000":1}') },
    );
  const multipartBody = fc
    .tuple(fc.oneof(deepJson, mutated(templates['/v1/ingest/documents/{externalId}']!), fc.string()), fc.boolean())
    .map(([metadata, withFile]) => {
      const parts = [`--b\r\ncontent-disposition: form-data; name="metadata"\r\n\r\n${metadata}\r\n`];
      if (withFile) parts.push('--b\r\ncontent-disposition: form-data; name="file"; filename="a.pdf"\r\ncontent-type: application/pdf\r\n\r\n%PDF-1.4\r\n');
      return `${parts.join('')}--b--\r\n`;
    });

  /** Content type and body: the documented type mostly, sometimes a wrong one or none. */
  const bodyFor = (route: Route): fc.Arbitrary<{ contentType: string | undefined; body: string | undefined }> => {
    const json = jsonBody(route.path).map((body) => ({ contentType: 'application/json', body }));
    const wrong = fc
      .tuple(
        fc.constantFrom(
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=b',
          'multipart/form-data',
          'application/xml',
          'application/json; charset=utf-16',
          'application/merge-patch+json',
          undefined,
        ),
        fc.oneof(jsonBody(route.path), fc.constantFrom('', 'a=1&b=%FF', '--b\r\n\r\n', 'SAMLResponse=PHNhbWw%2B&RelayState=%2F')),
      )
      .map(([contentType, body]) => ({ contentType, body }));
    const none = fc.constant({ contentType: undefined, body: undefined });
    if (route.bodyTypes.includes('multipart/form-data')) {
      return fc.oneof(
        json,
        multipartBody.map((body) => ({ contentType: 'multipart/form-data; boundary=b', body })),
        wrong,
      );
    }
    if (route.bodyTypes.includes('application/json'))
      return fc.oneof({ weight: 5, arbitrary: json }, { weight: 2, arbitrary: wrong }, { weight: 1, arbitrary: none });
    // GET carries no body (fetch refuses one), only, sometimes, a content type.
    if (route.method === 'GET')
      return fc.oneof({ weight: 6, arbitrary: none }, { weight: 1, arbitrary: fc.constant({ contentType: 'application/json', body: undefined }) });
    return fc.oneof(none, wrong, json);
  };

  /** The caller: mostly the one the route is meant for (so requests reach validation and handlers). */
  const callerFor = (route: Route) =>
    fc.nat(19).map((n): Record<string, string> => {
      // Routes without authentication (sign-in pages, logout) get no session: a logout would end the fuzz's own.
      if (n === 0 || route.auth === 'none') return n % 3 ? {} : callers.apiKey;
      if (n === 1) return callers.apiKey;
      if (n === 2) return callers.member;
      if (n === 3) return { cookie: callers.admin.cookie! }; // a session without its CSRF token
      if (route.path.startsWith('/v1/super-admin')) return callers.superAdmin;
      if (route.auth === 'apiKey') return callers.apiKey;
      if (route.path.startsWith('/v1/admin')) return callers.admin;
      return n % 2 ? callers.member : callers.admin;
    });

  const request = fc.nat().chain((r) => {
    const route = routes[r % routes.length]!;
    return fc.record({
      route: fc.constant(route),
      params: fc.array(pathValue, { minLength: route.pathParams.length, maxLength: route.pathParams.length }),
      query: fc.array(fc.tuple(fc.nat(), queryValue), { maxLength: route.query.length ? 4 : 0 }),
      // Appended as is: escapes that do not decode, empty names and values.
      rawQuery: fc.option(fc.constantFrom('%ZZ=%E0%A4%A', 'limit=%FF', 'cursor=%E0%A4%A', '=&&=', 'from=%2B010000-01-01T00%3A00%3A00Z'), { nil: undefined }),
      ifMatch: fc.option(fc.oneof(hugeNumber, fc.constantFrom('"0"', 'W/"1"', '*', '"99999999999"', 'abc')), { nil: undefined }),
      body: bodyFor(route),
      caller: callerFor(route),
    });
  });

  it('sends ≥ 10,000 requests of every shape to every route and gets no 5xx', async () => {
    let sent = 0;
    const statuses: Record<number, number> = {};
    const reached = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        await Promise.all(
          batch.map(async ({ route, params, query, rawQuery, ifMatch, body, caller }) => {
            let i = 0;
            let url = route.path.replace(/\{\w+\}/g, () => params[i++]!);
            const search = new URLSearchParams();
            for (const [k, v] of query) search.append(route.query[k % route.query.length]!, v);
            const queryText = [search.size ? `${search}` : '', rawQuery ?? ''].filter(Boolean).join('&');
            if (queryText) url += `?${queryText}`;
            const headers: Record<string, string> = { ...caller };
            if (body.contentType) headers['content-type'] = body.contentType;
            if (ifMatch !== undefined && route.headers.includes('if-match')) headers['if-match'] = ifMatch;
            const res = await t.app.request(url, { method: route.method, headers, body: body.body });
            const text = await res.text();
            sent++;
            statuses[res.status] = (statuses[res.status] ?? 0) + 1;
            if (res.status !== 401 && res.status !== 403) reached.add(`${route.method} ${route.path}`);
            const what = `${route.method} ${url} (${body.contentType ?? 'no content type'}: ${(body.body ?? '').slice(0, 120)})`;
            // What this deployment has not configured (a platform's OAuth client, Google Sign-In) is a 503 with its own code.
            const unconfigured = res.status === 503 && /"code":"[a-z_]+_not_configured"/.test(text);
            if (res.status >= 500 && !unconfigured) throw new Error(`${what} answered ${res.status}: ${text.slice(0, 300)}`);
            if (res.status >= 400 && (res.headers.get('content-type') ?? '').includes('json')) {
              expect(JSON.parse(text), what).toMatchObject({ error: { code: expect.stringMatching(/^[a-z][a-z0-9_]*$/) } });
            }
          }),
        );
      }),
      { numRuns: RUNS },
    );
    expect(sent).toBeGreaterThanOrEqual(10_000);
    // Most requests got past authentication, and nearly every route was reached by some.
    const past = Object.entries(statuses)
      .filter(([s]) => s !== '401' && s !== '403')
      .reduce((n, [, k]) => n + k, 0);
    expect(past).toBeGreaterThan(sent / 2);
    expect(reached.size).toBeGreaterThan(routes.length * 0.8);
  }, 300_000);
});
