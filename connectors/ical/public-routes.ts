import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../../src/api/env.ts';
import { errorBody } from '../../src/api/errors.ts';
import { ErrorSchema } from '../../src/api/schemas.ts';
import { clientIp, userAgent } from '../../src/auth/login-flow.ts';
import { createFeedPublisher } from './publish.ts';

/** Longest path segment worth hashing: a token is 43 characters plus `.ics`. */
const MAX_SEGMENT = 256;

/**
 * `GET /ical/<token>.ics`: the public subscription endpoint. The token is the only credential.
 * Unknown, rotated, deleted, revoked and withdrawn feeds all get the same 404 body after the same
 * work (rate limit + one lookup by token hash), so the answer tells nothing about which tokens exist.
 * (A conditional GET or HEAD of a token this process served before also registers a revocation lease
 * alongside — which tells its holder only that the token once worked.)
 * The token never reaches a log line: the request log records the route pattern, not the path.
 */
export const icalPublicRoutes: RouteModule = (app, services) => {
  const publisher = createFeedPublisher(services);
  const { config } = services;
  const cacheControl = `private, max-age=${config.ICAL_CACHE_MAX_AGE_SECONDS}`;
  // The URL is a secret: never let it leak through a Referer header or be sniffed as something else.
  const common = { 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' };
  const notFound = () =>
    new Response(JSON.stringify(errorBody('not_found', 'not found')), {
      status: 404,
      headers: { ...common, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    });

  // Documented like every route, but served by a plain handler: the only parameter is a path segment
  // the handler checks itself, so a schema validator would add a parse (and its promises) to every
  // poll of every feed for nothing.
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'get',
      path: '/ical/{file}',
      operationId: 'getIcalFeed',
      tags: ['iCal feeds'],
      summary: 'The subscription feed (`<token>.ics`), for calendar apps',
      description:
        'RFC 5545 calendar of the case events the feed owner consented to. Strong ETag; send `If-None-Match` ' +
        'to get 304. Each 200 is a logged transfer; a 304 and a HEAD request (nothing of the feed leaves) are logged as one ' +
        '`not_modified` row. Unknown, rotated and revoked tokens all answer 404.',
      request: { params: z.object({ file: z.string().openapi({ description: '`<token>.ics`' }) }) },
      responses: {
        200: { description: 'The calendar', content: { 'text/calendar': { schema: z.string() } } },
        304: { description: 'Not modified (If-None-Match matched the current ETag)' },
        404: { description: 'No such feed', content: { 'application/json': { schema: ErrorSchema } } },
        429: { description: 'Too many fetches of this feed; see Retry-After', content: { 'application/json': { schema: ErrorSchema } } },
        503: {
          description: 'The service could not reach its database or Redis for a moment (`service_unavailable`); retry after Retry-After',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
  );
  app.get('/ical/:file', async (c) => {
    const file = c.req.param('file');
    if (!file.endsWith('.ics') || file.length > MAX_SEGMENT) return notFound();
    const result = await publisher.fetch({
      token: file.slice(0, -'.ics'.length),
      ifNoneMatch: c.req.header('if-none-match') ?? null,
      head: c.req.method === 'HEAD',
      ip: clientIp(c),
      userAgent: userAgent(c),
    });
    switch (result.kind) {
      case 'not_found':
        return notFound();
      case 'rate_limited':
        return new Response(JSON.stringify(errorBody('rate_limited', 'too many requests for this feed; retry later')), {
          status: 429,
          headers: {
            ...common,
            'content-type': 'application/json; charset=utf-8',
            'cache-control': 'no-store',
            'retry-after': String(result.retryAfterSeconds),
          },
        });
      case 'head':
        return new Response(null, {
          status: 200,
          headers: {
            ...common,
            'content-type': 'text/calendar; charset=utf-8',
            ...(result.etag ? { etag: result.etag } : {}),
            'cache-control': cacheControl,
          },
        });
      case 'not_modified':
        return new Response(null, { status: 304, headers: { ...common, etag: result.etag, 'cache-control': cacheControl } });
      case 'ok':
        return new Response(result.body, {
          status: 200,
          headers: {
            ...common,
            'content-type': 'text/calendar; charset=utf-8',
            'content-disposition': 'inline; filename="calendar.ics"',
            etag: result.etag,
            'cache-control': cacheControl,
          },
        });
    }
  });
};
