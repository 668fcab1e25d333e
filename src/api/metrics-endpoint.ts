import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { metricsRegistry } from '../observability/metrics.ts';
import type { AppEnv } from './env.ts';
import { errorBody } from './errors.ts';

/**
 * Prometheus metrics are operational detail (routes, volumes, error rates) and are not for the
 * public. Two ways to expose them, either or both:
 * - `METRICS_TOKEN`: `/metrics` on the API answers a scraper that sends `Authorization: Bearer <token>`;
 * - `METRICS_LISTEN` (`host:port`): a separate listener serving only `/metrics`, without a token,
 *   meant for an address only the monitoring network reaches (e.g. `127.0.0.1:9464`).
 * With neither, metrics are not served at all.
 */

/** The metrics text, as Prometheus scrapes it. */
async function serveMetrics(c: Context): Promise<Response> {
  return c.body(await metricsRegistry.metrics(), 200, { 'content-type': metricsRegistry.contentType, 'cache-control': 'no-store' });
}

const digest = (v: string) => createHash('sha256').update(v).digest();

/** True when the request carries `Authorization: Bearer <token>` (compared in constant time). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token));
}

/** `/metrics` on the API: behind `METRICS_TOKEN`, or absent without one. */
export function registerMetrics(app: Hono<AppEnv>, config: { METRICS_TOKEN?: string | undefined }): void {
  const token = config.METRICS_TOKEN;
  if (!token) return;
  app.get('/metrics', (c) => {
    if (!bearerMatches(c.req.header('authorization'), token)) {
      c.header('www-authenticate', 'Bearer realm="metrics"');
      return c.json(errorBody('unauthenticated', 'metrics need Authorization: Bearer <METRICS_TOKEN>'), 401);
    }
    return serveMetrics(c);
  });
}

/** The handler of the `METRICS_LISTEN` listener: `/metrics` and nothing else. */
export function metricsListenerFetch(req: Request): Promise<Response> | Response {
  const { pathname } = new URL(req.url);
  if (req.method !== 'GET' || pathname !== '/metrics') {
    return Response.json(errorBody('route_not_found', 'this listener serves GET /metrics only'), { status: 404 });
  }
  return metricsRegistry
    .metrics()
    .then((text) => new Response(text, { headers: { 'content-type': metricsRegistry.contentType, 'cache-control': 'no-store' } }));
}
