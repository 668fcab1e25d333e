import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { csrfTokenMatches, SESSION_COOKIE } from '../auth/sessions.ts';
import { connectReturnTo, connectSessionOf } from './connect-sessions.ts';
import type { WebEnv } from './env.ts';
import { PageError } from './errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** What a restricted (embedded connect) session may open: its own connections, shared data and receipts. */
const RESTRICTED_ALLOWED = /^\/(apps|shared|shared\.csv|receipts)(\/|$)/;

/**
 * Signs a page request in from the session cookie. Without a live session a GET is sent to
 * `/login` with a `returnTo` back here; any other method answers 401. State-changing requests are
 * plain form posts, so they carry the session's CSRF token as the `_csrf` field (a cross-site form
 * cannot know it). The role and status are re-read from the database on every request, as the API
 * does, so a demotion or a disabled user takes effect at once.
 */
export function pageSession(): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const services = c.get('services');
    const full = getCookie(c, SESSION_COOKIE);
    let id = full;
    let session = full ? await services.sessions.touch(full) : null;
    let restricted = false;
    if (!session) {
      // An embedded connect link's session, which only these pages accept (see connect-sessions.ts).
      const embedded = await connectSessionOf(c);
      if (embedded) {
        ({ id, session } = embedded);
        restricted = true;
        if (!RESTRICTED_ALLOWED.test(c.req.path)) {
          throw new PageError(403, 'connect_session_restricted', 'This session may only connect, view and disconnect your own accounts.');
        }
      }
    }
    const row = session
      ? await services.db
          .selectFrom('users')
          .innerJoin('organizations', 'organizations.id', 'users.organization_id')
          .select(['users.email', 'users.name', 'users.role', 'users.status', 'organizations.name as orgName'])
          .where('users.id', '=', session.userId)
          .where('users.organization_id', '=', session.organizationId)
          .executeTakeFirst()
      : undefined;
    if (!id || !session || row?.status !== 'active') {
      if (id && session) await services.sessions.destroy(id);
      if (SAFE_METHODS.has(c.req.method)) {
        const url = new URL(c.req.url);
        return c.redirect(`/login?returnTo=${encodeURIComponent(url.pathname + url.search)}`, 302);
      }
      throw new PageError(401, 'unauthenticated', 'Your session has ended. Sign in again.');
    }
    if (!SAFE_METHODS.has(c.req.method)) {
      const form = await c.req.parseBody().catch(() => null);
      const token = form && typeof form._csrf === 'string' ? form._csrf : c.req.header('x-csrf-token');
      if (!csrfTokenMatches(session, token)) {
        throw new PageError(403, 'csrf_token_invalid', 'This form has expired or did not come from Casebridge. Go back, reload the page and try again.');
      }
    }
    // A restricted session acts as a member even for an administrator: its own accounts only.
    const role = restricted ? 'member' : row.role;
    c.set('principal', { kind: 'user', userId: session.userId, organizationId: session.organizationId, role, sessionId: id });
    c.set('csrfToken', session.csrfToken);
    c.set('viewer', {
      principal: { kind: 'user', userId: session.userId, organizationId: session.organizationId, role, sessionId: id },
      email: row.email,
      name: row.name,
      organizationName: row.orgName,
      restricted,
      returnTo: restricted ? connectReturnTo(c) : null,
    });
    await next();
  };
}

/** Pages only administrators see; anyone else gets 403 `admin_required`. */
export function pageAdmin(): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const viewer = c.get('viewer');
    if (viewer.principal.role !== 'admin' || viewer.restricted) {
      throw new PageError(403, 'admin_required', 'This page is for administrators of your organization.');
    }
    await next();
  };
}
