import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/auth/api-keys.ts';
import { bearer, type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * `Idempotency-Key` on creating POSTs: the same key and body get the stored answer (nothing runs
 * again), another body with the same key is 409 `idempotency_key_reused`, keys are per caller.
 * Real Redis and PostgreSQL/PGlite, through the bulk ingest route.
 */
describe('Idempotency-Key', () => {
  let t: TestServices;
  let org: SeededOrg;

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Retry Firm');
  });
  afterAll(async () => t?.cleanup());

  const bulk = (apiKey: string, body: unknown, idempotencyKey?: string) =>
    t.app.request('/v1/ingest/bulk', {
      method: 'POST',
      headers: { ...bearer(apiKey), 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      body: JSON.stringify(body),
    });
  const upsert = (externalId: string, title: string) => ({ items: [{ op: 'upsert', type: 'case', externalId, data: { number: externalId, title } }] });
  const caseRow = (externalId: string) =>
    t.services.db
      .selectFrom('cases')
      .select(['title', 'deleted_at'])
      .where('organization_id', '=', org.organizationId)
      .where('external_id', '=', externalId)
      .executeTakeFirst();

  it('answers a resent request with the stored answer and does not run it again', async () => {
    const first = await bulk(org.apiKey, upsert('idem-1', 'First'), 'key-1');
    expect(first.status).toBe(200);
    const firstBody = await first.text();
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // Something changes the case in between: a replay must not undo it.
    await bulk(org.apiKey, upsert('idem-1', 'Changed since'));
    const again = await bulk(org.apiKey, upsert('idem-1', 'First'), 'key-1');
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toContain('application/json');
    expect(await again.text()).toBe(firstBody);
    expect((await caseRow('idem-1'))?.title).toBe('Changed since');
  });

  it('refuses the same key with another body: 409 idempotency_key_reused, nothing written', async () => {
    await bulk(org.apiKey, upsert('idem-2', 'Original'), 'key-2');
    const reused = await bulk(org.apiKey, upsert('idem-3', 'Other'), 'key-2');
    expect(reused.status).toBe(409);
    expect(await reused.json()).toMatchObject({ error: { code: 'idempotency_key_reused' } });
    expect(await caseRow('idem-3')).toBeUndefined();
  });

  it("keeps keys per caller: another API key's request with the same key runs", async () => {
    const { apiKey: second } = await createApiKey(t.services.db, { organizationId: org.organizationId, name: 'second' });
    await bulk(org.apiKey, upsert('idem-4', 'By the first key'), 'shared-key');
    const res = await bulk(second, upsert('idem-4', 'By the second key'), 'shared-key');
    expect(res.status).toBe(200);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect((await caseRow('idem-4'))?.title).toBe('By the second key');
  });

  it('stores the answer for 24 hours and refuses a malformed key', async () => {
    await bulk(org.apiKey, upsert('idem-5', 'Kept'), 'key-ttl');
    const keys = await t.services.redis.keys(`${t.config.REDIS_PREFIX}:idempotency:*`);
    const ttls = await Promise.all(keys.map((k) => t.services.redis.ttl(k)));
    expect(Math.max(...ttls)).toBeGreaterThan(24 * 3600 - 60);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(24 * 3600);
    const bad = await bulk(org.apiKey, upsert('idem-6', 'x'), 'has spaces in it');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_idempotency_key' } });
  });

  it('declares the header on the creating operations of the OpenAPI document', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>>;
    };
    for (const [path, method] of [
      ['/v1/ingest/bulk', 'post'],
      ['/v1/connections', 'post'],
      ['/v1/connections/{id}/consents', 'post'],
      ['/v1/admin/revocations', 'post'],
    ] as const) {
      expect(
        doc.paths[path]?.[method]?.parameters?.some((p) => p.in === 'header' && p.name === 'idempotency-key'),
        `${method} ${path}`,
      ).toBe(true);
    }
  });
});
