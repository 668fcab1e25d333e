import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { sql } from 'kysely';
import type { ZodError } from 'zod';
import { isCasebridgeError } from '../errors/index.ts';
import { httpDuration, httpRequests } from '../observability/metrics.ts';
import { incomingContext, inSpan, runWithRequestId, SpanKind, SpanStatusCode } from '../observability/tracing.ts';
import type { Services } from '../services.ts';
import { mountWebPages } from '../web/index.tsx';
import { isBackendUnavailable } from './backend-unavailable.ts';
import { registerDocs } from './docs-page.ts';
import type { App, AppEnv } from './env.ts';
import { apiErrorFor } from './error-status.ts';
import { ApiError, errorBody } from './errors.ts';
import { jsonDepthLimit } from './json-depth.ts';
import { allowedMethods } from './method-not-allowed.ts';
import { registerMetrics } from './metrics-endpoint.ts';
import { clientGone, isClientAbort, logClientAborts } from './middleware/client-abort.ts';
import { securityHeaders } from './middleware/security-headers.ts';
import { buildOpenApiDocument, registerSecuritySchemes } from './openapi-document.ts';
import { routeModules } from './routes/index.ts';
import { textGuard } from './text-guard.ts';

/** Turns zod issues into `[{ path, message }]`, one per offending field. */
export function zodDetails(error: ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}

/**
 * Builds the HTTP application: request ids, structured request logs, body limit, JSON errors,
 * security headers, OpenAPI at /openapi.json with docs at /docs (see docs-page.ts), health, metrics
 * (behind METRICS_TOKEN, see metrics-endpoint.ts), and every route module.
 */
/** Retry-After of a 503 answered because PostgreSQL or Redis was briefly out of reach. */
const BACKEND_RETRY_AFTER_SECONDS = 5;

export function createApp(services: Services): App {
  const app: App = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return c.json(errorBody('validation_failed', 'the request is not valid', zodDetails(result.error)), 400);
      }
    },
  });
  const { logger, config } = services;

  app.use('*', requestId());
  app.use('*', securityHeaders({ hsts: config.PUBLIC_BASE_URL.startsWith('https:') }));
  app.use('*', logClientAborts(logger));
  app.use('*', async (c, next) => {
    c.set('services', services);
    const started = performance.now();
    // The request's SERVER span (parent: a caller's `traceparent`) and its request id stay active for
    // everything it does, down to the jobs it enqueues (see observability/tracing.ts).
    await runWithRequestId(c.get('requestId'), () =>
      inSpan(
        c.req.method,
        {
          kind: SpanKind.SERVER,
          parent: incomingContext(c.req.raw.headers),
          attributes: { 'http.request.method': c.req.method, 'casebridge.request_id': c.get('requestId') },
        },
        async (span) => {
          await next();
          // The route template, never the path: some paths carry a token (feeds, sign-in links).
          const route = c.req.routePath ?? 'unmatched';
          span.updateName(`${c.req.method} ${route}`);
          span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
          if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        },
      ),
    );
    const route = c.req.routePath ?? 'unmatched';
    const seconds = (performance.now() - started) / 1000;
    httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    httpDuration.observe({ method: c.req.method, route }, seconds);
    logger.info({ requestId: c.get('requestId'), method: c.req.method, route, status: c.res.status, ms: Math.round(seconds * 1000) }, 'request');
  });
  const limitBody = bodyLimit({
    maxSize: config.BODY_LIMIT_BYTES,
    onError: (c) => c.json(errorBody('payload_too_large', `the request body is larger than ${config.BODY_LIMIT_BYTES} bytes`), 413),
  });
  // A GET or HEAD has no body to limit; asking for one made the Node adapter build a full Request per
  // call (a few % of a polled iCal feed's CPU).
  app.use('*', (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)));

  // Before anything parses a JSON body (the text guard, validators): depth first, then text.
  app.use('*', jsonDepthLimit());
  app.use('*', textGuard());

  app.onError((thrown, c) => {
    // A domain error becomes its API error here, and only here (see error-status.ts).
    const err = isCasebridgeError(thrown) ? (apiErrorFor(thrown) ?? thrown) : thrown;
    if (err instanceof ApiError) {
      for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return c.json(errorBody(err.code, err.message, err.details), err.status);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      if (status === 400) return c.json(errorBody('bad_request', 'the request could not be read (malformed body?)'), 400);
      if (status === 415) {
        return c.json(
          errorBody(
            'unsupported_media_type',
            `the body's Content-Type (${c.req.header('content-type') ?? 'none'}) is not one this route accepts; see /openapi.json`,
          ),
          415,
        );
      }
      return c.json(errorBody('http_error', err.message || 'request failed'), status);
    }
    if (err instanceof SyntaxError) {
      return c.json(errorBody('malformed_json', 'the request body is not valid JSON'), 400);
    }
    if (isClientAbort(c, err)) return clientGone();
    if (isBackendUnavailable(err)) {
      // PostgreSQL or Redis briefly out of reach (a terminated backend, a restart): retry, not a bug.
      const e = err as { code?: unknown; name?: unknown };
      logger.warn({ code: e.code, errorClass: e.name, requestId: c.get('requestId') }, 'a backing service was unavailable; answered 503');
      c.header('Retry-After', String(BACKEND_RETRY_AFTER_SECONDS));
      return c.json(errorBody('service_unavailable', 'a service this request needs is briefly unavailable; retry in a few seconds'), 503);
    }
    logger.error({ err, requestId: c.get('requestId') }, 'unhandled error');
    return c.json(errorBody('internal_error', `something went wrong (request id ${c.get('requestId')})`), 500);
  });
  app.notFound((c) => {
    // A known path asked with the wrong method: 405 naming the methods it takes (RFC 9110 §15.5.6).
    // (A handler of the right method that calls notFound() for an unknown item still answers 404.)
    const allow = allowedMethods(app, c.req.path);
    if (allow.length && !allow.includes(c.req.method.toUpperCase())) {
      c.header('Allow', allow.join(', '));
      return c.json(errorBody('method_not_allowed', `${c.req.method} is not allowed on ${c.req.path}; use ${allow.join(', ')}`), 405);
    }
    return c.json(errorBody('route_not_found', `no route for ${c.req.method} ${c.req.path}`), 404);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks: Record<string, 'ok' | string> = {};
    try {
      await sql`select 1`.execute(services.db);
      checks.database = 'ok';
    } catch {
      checks.database = 'unreachable';
    }
    try {
      await Promise.race([services.redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000))]);
      checks.redis = 'ok';
    } catch {
      checks.redis = 'unreachable';
    }
    const ready = Object.values(checks).every((v) => v === 'ok');
    return c.json({ status: ready ? 'ready' : 'not_ready', checks }, ready ? 200 : 503);
  });
  registerMetrics(app, config);

  mountWebPages(app, services);
  for (const register of routeModules) register(app, services);

  registerSecuritySchemes(app);
  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  app.get('/openapi.json', (c) => {
    document ??= buildOpenApiDocument(app);
    return c.json(document);
  });
  registerDocs(app);
  return app;
}
