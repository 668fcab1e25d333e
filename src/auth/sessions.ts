import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../api/env.ts';
import { SESSION_COOKIE, type SessionData, type SessionPolicy } from './session-store.ts';

export { CSRF_HEADER, SESSION_COOKIE, type SessionData, type SessionPolicy, SessionStore } from './session-store.ts';

/** Secure cookies everywhere except plain-HTTP localhost development. */
export function cookieIsSecure(publicBaseUrl: string): boolean {
  const url = new URL(publicBaseUrl);
  return !(url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
}

export function setSessionCookie(c: Parameters<MiddlewareHandler<AppEnv>>[0], id: string, policy: SessionPolicy): void {
  setCookie(c, SESSION_COOKIE, id, {
    httpOnly: true,
    secure: cookieIsSecure(c.get('services').config.PUBLIC_BASE_URL),
    sameSite: 'Lax',
    path: '/',
    maxAge: policy.absoluteSeconds,
  });
}

export function clearSessionCookie(c: Parameters<MiddlewareHandler<AppEnv>>[0]): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/' });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Constant-time check of a CSRF token sent by a form or query parameter instead of the header. */
export function csrfTokenMatches(session: SessionData, token: string | undefined | null): boolean {
  return typeof token === 'string' && safeEqual(token, session.csrfToken);
}
