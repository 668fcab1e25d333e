import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { CSRF_HEADER, SESSION_COOKIE, type SessionStore } from '../../auth/session-store.ts';
import { AuthError } from '../../errors/index.ts';
import type { AppEnv } from '../env.ts';

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Authenticates a signed-in user by session cookie; state-changing requests must also carry the
 * session's CSRF token in `X-CSRF-Token` (a cross-site form cannot read it). In the OpenAPI document
 * this is the `session` scheme, plus `csrf` on state-changing calls (see openapi-document.ts).
 */
export function sessionAuth(store: SessionStore): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = getCookie(c, SESSION_COOKIE);
    const session = id ? await store.touch(id) : null;
    if (!id || !session) throw new AuthError('unauthenticated', 'sign in first');
    if (!SAFE_METHODS.has(c.req.method)) {
      const token = c.req.header(CSRF_HEADER) ?? '';
      if (!safeEqual(token, session.csrfToken)) {
        throw new AuthError('csrf_token_invalid', `state-changing requests need the session's ${CSRF_HEADER} header`);
      }
    }
    // The role and status come from the database on every request, so a demotion or a disabled
    // user takes effect at once, not when the session expires.
    const user = await c
      .get('services')
      .db.selectFrom('users')
      .select(['role', 'status'])
      .where('id', '=', session.userId)
      .where('organization_id', '=', session.organizationId)
      .executeTakeFirst();
    if (user?.status !== 'active') {
      await store.destroy(id);
      throw new AuthError('session_revoked', 'this session has ended; sign in again');
    }
    c.set('principal', {
      kind: 'user',
      userId: session.userId,
      organizationId: session.organizationId,
      role: user.role,
      sessionId: id,
    });
    await next();
  };
}

/** Requires an admin of the session's organization (use after sessionAuth). */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const p = c.get('principal');
    if (p?.kind !== 'user' || p.role !== 'admin') throw new AuthError('admin_required', 'this needs an organization administrator');
    await next();
  };
}
