import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { resolveGoogleLogin } from '../../auth/identities.ts';
import { failSignIn, startSession } from '../../auth/login-flow.ts';
import { type GooglePreLogin, GoogleSignIn } from '../../auth/oidc-google.ts';
import { PRE_LOGIN_TTL_SECONDS, PreLoginStore } from '../../auth/pre-login.ts';
import { safeReturnTo } from '../../auth/return-to.ts';
import { cookieIsSecure } from '../../auth/sessions.ts';
import { redeemSignInLink } from '../../auth/sign-in-links.ts';
import { loadSignInPolicy } from '../../auth/sign-in-policy.ts';
import type { Services } from '../../services.ts';
import type { AppEnv, RouteModule } from '../env.ts';

/** Pre-login cookie of the Google flow: a handle to the state, nonce and PKCE verifier in Redis. */
const OIDC_COOKIE = 'cb_oidc';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Google Sign-In (browser routes, not JSON API):
 * - `GET /auth/google/start?org=&returnTo=&login_hint=` → 302 to Google with PKCE, state and nonce;
 * - `GET /auth/google/callback` → checks everything, starts a session, 303 to `returnTo`.
 * Refusals go to `/login?error=<code>` for browsers and are JSON errors otherwise; each one is a
 * security event.
 */
export const authGoogleRoutes: RouteModule = (app, services) => {
  const google = new GoogleSignIn(services.config);
  const preLogins = new PreLoginStore(services.redis, services.config.REDIS_PREFIX);

  app.get('/auth/google/start', async (c) => {
    const org = c.req.query('org');
    const organizationHint = org && UUID.test(org) ? org.toLowerCase() : undefined;
    const loginHint = c.req.query('login_hint')?.slice(0, 320);
    try {
      // An organization admitting exactly one Workspace domain gets Google's chooser narrowed to it.
      const domains = organizationHint ? (await loadSignInPolicy(services.db, organizationHint))?.allowedGoogleDomains : undefined;
      const { url, preLogin } = await google.start({
        returnTo: safeReturnTo(c.req.query('returnTo')),
        ...(organizationHint ? { organizationHint } : {}),
        ...(loginHint ? { loginHint } : {}),
        ...(domains?.length === 1 ? { hd: domains[0]! } : {}),
      });
      const handle = await preLogins.save('google', preLogin);
      if (organizationHint) await preLogins.rememberOrganization('google', [handle, preLogin.state], organizationHint);
      setGooglePreLoginCookie(c, services, handle);
      return c.redirect(url, 302);
    } catch (err) {
      return failSignIn(c, services, err, { method: 'google', organizationId: organizationHint ?? null });
    }
  });

  app.get('/auth/google/callback', async (c) => {
    const handle = getCookie(c, OIDC_COOKIE);
    deleteCookie(c, OIDC_COOKIE, { path: '/auth/google' });
    let organizationHint: string | undefined;
    try {
      const preLogin = await preLogins.take<GooglePreLogin>('google', handle);
      // Without the pre-login (expired, other browser, replayed callback) the organization the
      // sign-in was started for is still known from the cookie handle or the state, when either is
      // genuine: the failure then lands in that organization's security events.
      // (Only then: the inferred organization attributes the failure, it never steers a sign-in.)
      organizationHint = preLogin ? preLogin.organizationHint : ((await preLogins.organizationOf('google', [handle, c.req.query('state')])) ?? undefined);
      // The redirect URI is ours by configuration, never taken from the Host header.
      const callbackUrl = new URL(`${google.redirectUri}${new URL(c.req.url).search}`);
      const login = await google.callback(callbackUrl, preLogin);
      const external = {
        provider: 'google' as const,
        issuer: login.issuer,
        subject: login.subject,
        email: login.email,
        name: login.name,
        picture: login.picture,
        receivedAttributes: login.claimNames,
      };
      // A sign-in started from a sign-in link links this identity to the link's user (and only that).
      const resolved = preLogin?.signInLinkId
        ? await redeemSignInLink(services.db, { linkId: preLogin.signInLinkId, login: external, hd: login.hd })
        : await resolveGoogleLogin(services.db, { ...external, hd: login.hd }, organizationHint ? { organizationHint } : {});
      await startSession(c, services, resolved, { method: 'google' });
      return c.redirect(preLogin!.returnTo, 303);
    } catch (err) {
      return failSignIn(c, services, err, { method: 'google', organizationId: organizationHint ?? null });
    }
  });
};

/**
 * Sets the Google flow's pre-login cookie (a handle to the state in Redis), for `/auth/google/start`
 * and for sign-ins started elsewhere (a sign-in link) that end at `/auth/google/callback`.
 */
export function setGooglePreLoginCookie(c: Context<AppEnv>, services: Services, handle: string): void {
  setCookie(c, OIDC_COOKIE, handle, {
    httpOnly: true,
    secure: cookieIsSecure(services.config.PUBLIC_BASE_URL),
    sameSite: 'Lax', // sent on Google's top-level redirect back, not on cross-site subrequests
    path: '/auth/google',
    maxAge: PRE_LOGIN_TTL_SECONDS,
  });
}
