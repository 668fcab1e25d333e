import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HSTS_VALUE } from '../../src/api/middleware/security-headers.ts';
import { startService } from '../../src/main.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The response headers of the API, and who may read /metrics. Secrets that travel in JSON (the
 * CSRF token, a new API key, a new feed URL) must not be cached or sniffed.
 */

const METRICS_TOKEN = 'metrics-token-0123456789abcdef-0123456789';

describe('security headers', () => {
  let t: TestServices;
  let org: SeededOrg;
  let admin: Record<string, string>;
  beforeAll(async () => {
    t = await createTestServices();
    // Registered before the first request (the router is built then).
    t.app.get('/test/immutable', () => Response.redirect('http://localhost:3000/elsewhere', 302));
    org = await seedOrg(t.services, 'Header Firm');
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
  });
  afterAll(async () => t.cleanup());

  const expectPrivateJson = (res: Response) => {
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  };

  it('marks the CSRF token, a new API key and a new feed URL no-store and nosniff', async () => {
    const me = await t.app.request('/v1/me', { headers: admin });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { csrfToken: string }).csrfToken).toBeTruthy();
    expectPrivateJson(me);

    const key = await t.app.request('/v1/admin/api-keys', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'header test' }),
    });
    expect(key.status).toBe(201);
    expect(((await key.json()) as { apiKey: string }).apiKey).toBeTruthy();
    expectPrivateJson(key);

    const feed = await t.app.request('/v1/ical-feeds', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'My feed', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(feed.status).toBe(201);
    expect(((await feed.json()) as { url: string }).url).toMatch(/\/ical\//);
    expectPrivateJson(feed);
  });

  it('covers error answers too, and sends no HSTS over plain http', async () => {
    for (const res of [
      await t.app.request('/v1/nowhere'),
      await t.app.request('/v1/me'),
      await t.app.request('/v1/admin/api-keys', { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: '{' }),
    ]) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expectPrivateJson(res);
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
  });

  it('sets them on a response whose headers are immutable', async () => {
    const res = await t.app.request('/test/immutable');
    expect(res.status).toBe(302);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('does not serve /metrics on the API without METRICS_TOKEN', async () => {
    expect((await t.app.request('/metrics')).status).toBe(404);
  });
});

describe('behind https, with a metrics token', () => {
  let t: TestServices;
  beforeAll(async () => {
    t = await createTestServices({ PUBLIC_BASE_URL: 'https://casebridge.example', METRICS_TOKEN });
  });
  afterAll(async () => t.cleanup());

  it('sends HSTS on every answer', async () => {
    for (const path of ['/healthz', '/v1/nowhere', '/openapi.json']) {
      expect((await t.app.request(path)).headers.get('strict-transport-security')).toBe(HSTS_VALUE);
    }
  });

  it('serves /metrics only to the bearer of the token', async () => {
    const none = await t.app.request('/metrics');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'unauthenticated' });
    const wrong = await t.app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain(METRICS_TOKEN);
    const right = await t.app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(right.status).toBe(200);
    expect(right.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await right.text()).toContain('http_requests_total');
  });
});

describe('METRICS_LISTEN', () => {
  let t: TestServices;
  beforeAll(async () => {
    t = await createTestServices({ METRICS_LISTEN: '127.0.0.1:0', HOST: '127.0.0.1', PORT: '0' });
  });
  afterAll(async () => t.cleanup());

  it('serves /metrics on its own listener, not on the API port', async () => {
    const running = await startService({ services: t.services, mode: 'api' });
    try {
      expect(running.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const metrics = await fetch(`${running.metricsUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('http_requests_total');
      expect((await fetch(`${running.metricsUrl}/v1/me`)).status).toBe(404);
      expect((await fetch(`${running.url}/metrics`)).status).toBe(404);
    } finally {
      await running.stop({ graceMs: 1000 });
    }
  });

  it('refuses a malformed listen address at start', async () => {
    const { loadConfig } = await import('../../src/config/load.ts');
    expect(() => loadConfig({ METRICS_LISTEN: 'localhost' })).toThrow(/METRICS_LISTEN/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
  });
});
