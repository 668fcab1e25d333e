import type { MiddlewareHandler } from 'hono';

/**
 * Response headers every answer of the API gets.
 *
 * - `X-Content-Type-Options: nosniff` on everything: a browser never guesses a type we did not send.
 * - `Cache-Control: no-store` on JSON: CSRF tokens, new API keys and new feed URLs travel in JSON
 *   bodies, and no shared or browser cache may keep them. Set after the handler, so error answers
 *   (including those of `onError` and `notFound`) are covered too.
 * - `Strict-Transport-Security` when the public URL is https: after the first visit a browser will
 *   not talk to this origin in clear text for a year, subdomains included.
 */
export const HSTS_VALUE = 'max-age=31536000; includeSubDomains';

/** The middleware; `hsts` is true when `PUBLIC_BASE_URL` is https. */
export function securityHeaders(options: { hsts: boolean }): MiddlewareHandler {
  return async (c, next) => {
    await next();
    let headers = c.res.headers;
    try {
      headers.set('x-content-type-options', 'nosniff');
    } catch {
      // A Response with immutable headers (Response.redirect, a fetched response): copy it.
      c.res = new Response(c.res.body, c.res);
      headers = c.res.headers;
    }
    headers.set('x-content-type-options', 'nosniff');
    if (isJson(headers.get('content-type'))) headers.set('cache-control', 'no-store');
    if (options.hsts) headers.set('strict-transport-security', HSTS_VALUE);
  };
}

/** `application/json` and `application/<something>+json` (problem details, JSON-LD). */
function isJson(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
