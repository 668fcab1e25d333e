import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { resolveSamlLogin } from '../../auth/identities.ts';
import { clientIp, failSignIn, startSession, userAgent } from '../../auth/login-flow.ts';
import { PRE_LOGIN_TTL_SECONDS } from '../../auth/pre-login.ts';
import { safeReturnTo } from '../../auth/return-to.ts';
import { samlServiceProvider } from '../../auth/saml/service-provider.ts';
import { clearSessionCookie, cookieIsSecure, csrfTokenMatches, SESSION_COOKIE } from '../../auth/sessions.ts';
import { SignInError } from '../../auth/sign-in-error.ts';
import { redeemSignInLink } from '../../auth/sign-in-links.ts';
import { recordSecurityEvent } from '../../security/events.ts';
import type { Services } from '../../services.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError, errorBody } from '../errors.ts';

/** Pre-login cookie of the SAML flow; its value is also the RelayState (bound at the ACS). */
const SAML_COOKIE = 'cb_saml';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function organizationOr404(c: Context<AppEnv>, services: Services): Promise<string> {
  const id = c.req.param('orgId') ?? '';
  if (!UUID.test(id)) throw new ApiError(404, 'not_found', 'organization not found');
  const org = await services.db.selectFrom('organizations').select('id').where('id', '=', id.toLowerCase()).executeTakeFirst();
  if (!org) throw new ApiError(404, 'not_found', 'organization not found');
  return org.id;
}

/**
 * SAML (browser routes, per organization):
 * - `GET /auth/saml/{orgId}/metadata` SP metadata for the IdP administrator;
 * - `GET /auth/saml/{orgId}/login?returnTo=` SP-initiated login (302 to the IdP);
 * - `POST /auth/saml/{orgId}/acs` assertion consumer service;
 * - `GET /auth/saml/{orgId}/logout?csrf=` ends the session and starts single logout at the IdP;
 * - `GET /auth/saml/{orgId}/slo` the IdP's LogoutResponse, or its own signed LogoutRequest.
 */
export const authSamlRoutes: RouteModule = (app, services) => {
  const sp = samlServiceProvider(services);
  const cookiePath = (orgId: string) => `/auth/saml/${orgId}`;
  const secure = cookieIsSecure(services.config.PUBLIC_BASE_URL);

  app.get('/auth/saml/:orgId/metadata', async (c) => {
    const orgId = await organizationOr404(c, services);
    return c.body(sp.metadata(orgId), 200, { 'content-type': 'application/samlmetadata+xml; charset=utf-8' });
  });

  app.get('/auth/saml/:orgId/login', async (c) => {
    const orgId = await organizationOr404(c, services);
    try {
      const { url, handle } = await sp.startLogin(orgId, safeReturnTo(c.req.query('returnTo')));
      setSamlPreLoginCookie(c, services, orgId, handle);
      return c.redirect(url, 302);
    } catch (err) {
      return failSignIn(c, services, err, { method: 'saml', organizationId: orgId });
    }
  });

  app.post('/auth/saml/:orgId/acs', async (c) => {
    const orgId = await organizationOr404(c, services);
    const cookieHandle = getCookie(c, SAML_COOKIE);
    deleteCookie(c, SAML_COOKIE, { path: cookiePath(orgId), secure, sameSite: secure ? 'None' : 'Lax' });
    try {
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const result = await sp.consume({
        organizationId: orgId,
        samlResponse: str(form.SAMLResponse),
        relayState: str(form.RelayState),
        cookieHandle,
      });
      // A sign-in started from a sign-in link links this identity to the link's user (and only that).
      const resolved = result.signInLinkId
        ? await redeemSignInLink(services.db, { linkId: result.signInLinkId, login: result.login, organizationId: orgId })
        : await resolveSamlLogin(services.db, result.login, orgId);
      await startSession(c, services, resolved, { method: 'saml', saml: result.saml, samlOrganizationId: orgId });
      return c.redirect(result.returnTo, 303);
    } catch (err) {
      return failSignIn(c, services, err, { method: 'saml', organizationId: orgId });
    }
  });

  app.get('/auth/saml/:orgId/logout', async (c) => {
    const orgId = await organizationOr404(c, services);
    const id = getCookie(c, SESSION_COOKIE);
    const session = id ? await services.sessions.get(id) : null;
    if (!id || !session) return c.redirect('/login?loggedOut=1', 303);
    // A GET that ends a session needs the CSRF token too (as a query parameter).
    if (!csrfTokenMatches(session, c.req.query('csrf'))) {
      throw new ApiError(403, 'csrf_token_invalid', "signing out needs the session's CSRF token");
    }
    await services.sessions.destroy(id);
    clearSessionCookie(c);
    await recordSecurityEvent(services.db, {
      organizationId: session.organizationId,
      userId: session.userId,
      kind: 'logout',
      outcome: 'success',
      method: 'saml',
      ip: clientIp(c),
      userAgent: userAgent(c),
    });
    const url = session.method === `saml:${orgId}` && session.saml ? await sp.logoutUrl(orgId, session.saml) : null;
    return c.redirect(url ?? '/login?loggedOut=1', 302);
  });

  app.get('/auth/saml/:orgId/slo', async (c) => {
    const orgId = await organizationOr404(c, services);
    const url = new URL(c.req.url);
    try {
      const result = await sp.handleSlo(orgId, c.req.query(), url.search.slice(1));
      if (result.kind === 'response') return c.redirect('/login?loggedOut=1', 303);
      const ended = await endSamlSessions(services, { organizationId: orgId, nameId: result.nameId, sessionIndex: result.sessionIndex });
      if (ended.userId) {
        await recordSecurityEvent(services.db, {
          organizationId: orgId,
          userId: ended.userId,
          kind: 'logout',
          outcome: 'success',
          method: 'saml',
          details: { initiatedBy: 'idp', sessionsEnded: ended.count },
        });
      }
      // Without an SLO URL at the IdP there is nowhere to answer: the browser lands signed out here.
      return c.redirect(result.responseUrl ?? '/login?loggedOut=1', 302);
    } catch (err) {
      if (!(err instanceof SignInError)) throw err;
      await recordSecurityEvent(services.db, {
        organizationId: orgId,
        kind: 'logout',
        outcome: 'failure',
        reason: err.code,
        method: 'saml',
        ip: clientIp(c),
        userAgent: userAgent(c),
        details: { message: err.message, ...(err.options.details ?? {}) },
      });
      return c.json(errorBody(err.code, err.message), err.status);
    }
  });
};

/**
 * Sets the SAML flow's pre-login cookie (its value is also the RelayState), for `/auth/saml/{orgId}/login`
 * and for sign-ins started elsewhere (a sign-in link) that end at the organization's ACS.
 */
export function setSamlPreLoginCookie(c: Context<AppEnv>, services: Services, organizationId: string, handle: string): void {
  const secure = cookieIsSecure(services.config.PUBLIC_BASE_URL);
  setCookie(c, SAML_COOKIE, handle, {
    httpOnly: true,
    secure,
    // The IdP posts the response cross-site: only SameSite=None cookies come along (HTTPS only);
    // plain-HTTP development needs the IdP on the same site (e.g. both on 127.0.0.1).
    sameSite: secure ? 'None' : 'Lax',
    path: `/auth/saml/${organizationId}`,
    maxAge: PRE_LOGIN_TTL_SECONDS,
  });
}

/** Ends the SAML sessions of the user behind a NameID (IdP-initiated single logout). */
async function endSamlSessions(
  services: Services,
  params: { organizationId: string; nameId: string; sessionIndex?: string },
): Promise<{ userId: string | null; count: number }> {
  const identity = await services.db
    .selectFrom('identities')
    .innerJoin('saml_configs', 'saml_configs.organization_id', 'identities.organization_id')
    .select('identities.user_id')
    .where('identities.organization_id', '=', params.organizationId)
    .where('identities.provider', '=', 'saml')
    .whereRef('identities.issuer', '=', 'saml_configs.entity_id')
    .where('identities.subject', '=', params.nameId)
    .executeTakeFirst();
  if (!identity) return { userId: null, count: 0 };
  let count = 0;
  for (const { handle, session } of await services.sessions.listForUser(identity.user_id)) {
    if (session.method !== `saml:${params.organizationId}` || session.saml?.nameId !== params.nameId) continue;
    if (params.sessionIndex && session.saml.sessionIndex && session.saml.sessionIndex !== params.sessionIndex) continue;
    count += await services.sessions.endForUser(identity.user_id, handle);
  }
  return { userId: identity.user_id, count };
}
