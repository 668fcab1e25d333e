import { getCookie } from 'hono/cookie';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import { samlServiceProvider } from '../../auth/saml/service-provider.ts';
import { CSRF_HEADER, clearSessionCookie, csrfTokenMatches, SESSION_COOKIE } from '../../auth/sessions.ts';
import { recordSecurityEvent } from '../../security/events.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';

/**
 * `POST /auth/logout`: ends the session (CSRF token in `X-CSRF-Token`, or a `csrfToken` form field
 * from the sign-in pages). SAML sessions also get the IdP's single-logout URL: JSON clients as
 * `redirectTo`, forms by redirect.
 */
export const authSessionRoutes: RouteModule = (app, services) => {
  app.post('/auth/logout', async (c) => {
    const isForm = (c.req.header('content-type') ?? '').includes('application/x-www-form-urlencoded');
    const id = getCookie(c, SESSION_COOKIE);
    const session = id ? await services.sessions.get(id) : null;
    if (!id || !session) {
      clearSessionCookie(c);
      return isForm ? c.redirect('/login?loggedOut=1', 303) : c.json({ loggedOut: true, redirectTo: null });
    }
    const form = isForm ? await c.req.parseBody() : {};
    const token = c.req.header(CSRF_HEADER) ?? (typeof form.csrfToken === 'string' ? form.csrfToken : undefined);
    if (!csrfTokenMatches(session, token)) {
      throw new ApiError(403, 'csrf_token_invalid', `signing out needs the session's ${CSRF_HEADER} header`);
    }
    await services.sessions.destroy(id);
    clearSessionCookie(c);
    const samlOrg = session.method.startsWith('saml:') ? session.method.slice('saml:'.length) : null;
    await recordSecurityEvent(services.db, {
      organizationId: session.organizationId,
      userId: session.userId,
      kind: 'logout',
      outcome: 'success',
      method: samlOrg ? 'saml' : session.method,
      ip: clientIp(c),
      userAgent: userAgent(c),
    });
    const redirectTo = samlOrg && session.saml ? await samlServiceProvider(services).logoutUrl(samlOrg, session.saml) : null;
    if (isForm) return c.redirect(redirectTo ?? '/login?loggedOut=1', 303);
    return c.json({ loggedOut: true, redirectTo });
  });
};
