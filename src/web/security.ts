import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { WebEnv } from './env.ts';

/**
 * Security headers of every page: a strict Content-Security-Policy with a fresh nonce per request
 * (scripts run only with it; styles only from our own origin; nothing from a third party), no
 * framing, no referrer (page URLs can name connections and revocations), and no caching of pages
 * that show personal data.
 */
export function pageSecurity(): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const nonce = randomBytes(18).toString('base64');
    c.set('nonce', nonce);
    await next();
    const formTargets = c.get('formTargets') as string[] | undefined;
    const own = c.get('cspPolicy') as string | undefined;
    c.header('content-security-policy', own ?? contentSecurityPolicy(nonce, formTargets ?? []));
    c.header('x-frame-options', 'DENY');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('cache-control', 'no-store');
  };
}

/**
 * The policy: `'self'` for styles, images and fetches; scripts by nonce only; forms post to our
 * origin plus, on the pages that start an authorization, the provider's sign-in origin (Chromium
 * applies form-action to the redirect that follows the post).
 */
export function contentSecurityPolicy(nonce: string, extraFormTargets: readonly string[] = []): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    `form-action 'self'${extraFormTargets.map((o) => ` ${o}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}
