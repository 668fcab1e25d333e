import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKeyScope } from '../../src/auth/api-key-scopes.ts';
import { createApiKey, hashApiKey } from '../../src/auth/api-keys.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * API key scopes: each scope allows exactly its operations (403 `insufficient_scope` otherwise),
 * `admin` allows all, keys made before scopes keep what they could do, and no key ever reaches
 * another organization's user. Real PostgreSQL/PGlite and Redis.
 */

type Operation = { scope: ApiKeyScope; call: (t: TestServices, key: string, org: SeededOrg) => Response | Promise<Response> };

const OPERATIONS: Record<string, Operation> = {
  'read an ingested case': { scope: 'ingest', call: (t, key) => t.app.request('/v1/ingest/cases/no-such-case', { headers: bearer(key) }) },
  "list a user's connections": {
    scope: 'connections:read',
    call: (t, key, org) => t.app.request(`/v1/users/${encodeURIComponent(org.member.email)}/connections`, { headers: bearer(key) }),
  },
  'start a connect session': {
    scope: 'connections:manage',
    call: (t, key, org) =>
      t.app.request('/v1/connect-sessions', {
        method: 'POST',
        headers: { ...bearer(key), 'content-type': 'application/json' },
        body: JSON.stringify({ email: org.member.email }),
      }),
  },
  "list a user's transfers": {
    scope: 'transfers:read',
    call: (t, key, org) => t.app.request(`/v1/users/${org.member.id}/transfers`, { headers: bearer(key) }),
  },
};

describe('API key scopes', () => {
  let t: TestServices;
  let org: SeededOrg;
  let other: SeededOrg;

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Scoped Firm');
    other = await seedOrg(t.services, 'Other Firm');
  });
  afterAll(async () => t?.cleanup());

  for (const scope of ['ingest', 'connections:read', 'connections:manage', 'transfers:read', 'admin'] as const) {
    it(`a key with only "${scope}" may do exactly what that scope allows`, async () => {
      const { apiKey } = await createApiKey(t.services.db, { organizationId: org.organizationId, name: scope, scopes: [scope] });
      for (const [name, op] of Object.entries(OPERATIONS)) {
        const res = await op.call(t, apiKey, org);
        const body = (await res.json()) as { error?: { code: string } };
        if (scope === 'admin' || op.scope === scope) {
          expect(res.status, `${scope}: ${name}`).not.toBe(403);
          expect(res.status, `${scope}: ${name}`).toBeLessThan(500);
          expect(body.error?.code, `${scope}: ${name}`).not.toBe('insufficient_scope');
        } else {
          expect(res.status, `${scope}: ${name}`).toBe(403);
          expect(body.error?.code).toBe('insufficient_scope');
        }
      }
    });
  }

  it('keeps the rights of keys made before scopes: ingest and connect sessions, nothing new', async () => {
    // Inserted as before migration 0023 (no scopes column in the insert): the column default applies.
    const legacy = `cbk_${randomBytes(32).toString('base64url')}`;
    await t.services.db
      .insertInto('api_keys')
      .values({ organization_id: org.organizationId, name: 'legacy', prefix: legacy.slice(0, 12), key_hash: hashApiKey(legacy) })
      .execute();
    const row = await t.services.db.selectFrom('api_keys').select('scopes').where('key_hash', '=', hashApiKey(legacy)).executeTakeFirstOrThrow();
    expect(row.scopes).toEqual(['ingest', 'connections:manage']);
    expect((await OPERATIONS['read an ingested case']!.call(t, legacy, org)).status).toBe(404);
    expect((await OPERATIONS['start a connect session']!.call(t, legacy, org)).status).toBe(201);
    expect((await OPERATIONS["list a user's connections"]!.call(t, legacy, org)).status).toBe(403);
    expect((await OPERATIONS["list a user's transfers"]!.call(t, legacy, org)).status).toBe(403);
  });

  it("reads a user's connections, consents and transfers as lists, and never another organization's user", async () => {
    const { apiKey } = await createApiKey(t.services.db, {
      organizationId: org.organizationId,
      name: 'backend',
      scopes: ['connections:read', 'transfers:read'],
    });
    const connections = await t.app.request(`/v1/users/${org.member.id}/connections`, { headers: bearer(apiKey) });
    expect(connections.status).toBe(200);
    expect(await connections.json()).toEqual({ items: [], nextCursor: null });
    const transfers = await t.app.request(`/v1/users/${encodeURIComponent(org.member.email)}/transfers`, { headers: bearer(apiKey) });
    expect(await transfers.json()).toEqual({ items: [], nextCursor: null });
    const consents = await t.app.request(`/v1/users/${org.member.id}/connections/00000000-0000-4000-8000-000000000000/consents`, { headers: bearer(apiKey) });
    expect(consents.status).toBe(404);
    for (const user of [other.member.id, encodeURIComponent(other.member.email)]) {
      const res = await t.app.request(`/v1/users/${user}/connections`, { headers: bearer(apiKey) });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'user_not_found' } });
    }
  });

  it('an administrator creates a key with scopes and sees them listed; unknown scopes are refused', async () => {
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const created = await t.app.request('/v1/admin/api-keys', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'reader', scopes: ['connections:read'] }),
    });
    expect(created.status).toBe(201);
    const key = (await created.json()) as { id: string; scopes: string[] };
    expect(key.scopes).toEqual(['connections:read']);
    const list = (await (await t.app.request('/v1/admin/api-keys', { headers: admin })).json()) as { items: Array<{ id: string; scopes: string[] }> };
    expect(list.items.find((k) => k.id === key.id)?.scopes).toEqual(['connections:read']);
    const bad = await t.app.request('/v1/admin/api-keys', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', scopes: ['everything'] }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'validation_failed' } });
  });
});

describe('the per-key rate limit', () => {
  let t: TestServices;
  let org: SeededOrg;

  beforeAll(async () => {
    t = await createTestServices({ API_RATE_LIMIT_REQUESTS: '3', API_RATE_LIMIT_WINDOW_SECONDS: '60' });
    org = await seedOrg(t.services, 'Busy Firm');
  });
  afterAll(async () => t?.cleanup());

  it('announces the policy and the remaining quota, then answers 429 with Retry-After', async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.app.request('/v1/ingest/cases/none', { headers: bearer(org.apiKey) });
      expect(res.status).toBe(404);
      expect(res.headers.get('ratelimit-policy')).toBe('"per-key";q=3;w=60');
      remaining.push(res.headers.get('ratelimit') ?? '');
    }
    expect(remaining.map((h) => /r=(\d+)/.exec(h)?.[1])).toEqual(['2', '1', '0']);
    expect(remaining[0]).toMatch(/^"per-key";r=2;t=\d+$/);
    const limited = await t.app.request('/v1/ingest/cases/none', { headers: bearer(org.apiKey) });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('ratelimit')).toMatch(/^"per-key";r=0;t=\d+$/);
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited' } });
    // Another key of the same organization has its own quota.
    const { apiKey } = await createApiKey(t.services.db, { organizationId: org.organizationId, name: 'second' });
    expect((await t.app.request('/v1/ingest/cases/none', { headers: bearer(apiKey) })).status).toBe(404);
  });
});
