import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

describe('HTTP basics', () => {
  let t: TestServices;
  beforeAll(async () => {
    t = await createTestServices();
  });
  afterAll(async () => t.cleanup());

  it('answers liveness and readiness with the database and Redis checked', async () => {
    expect((await t.app.request('/healthz')).status).toBe(200);
    const ready = await t.app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok' } });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await t.app.request('/no/such/route');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'route_not_found', message: 'no route for GET /no/such/route' } });
  });

  it('answers a wrong method on a known path with 405, the Allow header and the error envelope', async () => {
    const res = await t.app.request('/v1/connections/00000000-0000-4000-8000-000000000000', { method: 'PUT' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('DELETE, GET, HEAD, PATCH');
    expect(await res.json()).toMatchObject({ error: { code: 'method_not_allowed' } });
    const healthz = await t.app.request('/healthz', { method: 'DELETE' });
    expect(healthz.status).toBe(405);
    expect(healthz.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers a body of an unsupported media type with 415 in the error envelope', async () => {
    const org = await seedOrg(t.services);
    const res = await t.app.request('/v1/ingest/cases/case-415', {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'text/plain' },
      body: 'number=1',
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
  });

  it('serves an OpenAPI document', async () => {
    const res = await t.app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { openapi: string }).openapi).toBe('3.1.0');
  });
});
