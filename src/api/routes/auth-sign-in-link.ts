import { failSignIn } from '../../auth/login-flow.ts';
import { type GooglePreLogin, GoogleSignIn, googleClientCredentials } from '../../auth/oidc-google.ts';
import { PreLoginStore } from '../../auth/pre-login.ts';
import { loadSamlIdpConfig } from '../../auth/saml/idp-config.ts';
import { samlServiceProvider } from '../../auth/saml/service-provider.ts';
import { lookUpSignInLink, SIGN_IN_LINK_PATH, type UsableSignInLink, unusableLink } from '../../auth/sign-in-links.ts';
import { type LinkSignInMethod, SIGN_IN_PAGE_HEADERS as PAGE_HEADERS, signInLinkPage, unusableLinkPage } from '../../web/sign-in/pages.tsx';
import type { RouteModule } from '../env.ts';
import { setGooglePreLoginCookie } from './auth-google.ts';
import { setSamlPreLoginCookie } from './auth-saml.ts';

/**
 * Sign-in links (browser routes; the token is in the path, which request logs never show — they
 * name the route pattern):
 * - `GET /auth/link/{token}` the link's page: who it is for and the sign-in methods; does not use it;
 * - `GET /auth/link/{token}/google` and `…/saml` start Google Sign-In or the organization's SAML
 *   sign-in with the link's id in the server-side pre-login state; the callback (ACS) links the
 *   identity and uses the link up.
 * A used, expired or unknown link answers a 410 or 404 page naming why.
 */
export const signInLinkRoutes: RouteModule = (app, services) => {
  const google = new GoogleSignIn(services.config);
  const preLogins = new PreLoginStore(services.redis, services.config.REDIS_PREFIX);
  const sp = samlServiceProvider(services);

  /** The link, or the page saying why it cannot be used. */
  const usable = async (token: string): Promise<UsableSignInLink | Response> => {
    const lookup = await lookUpSignInLink(services.db, token);
    if (lookup.kind === 'usable') return lookup.link;
    const problem = unusableLink(lookup);
    return new Response(unusableLinkPage(problem), {
      status: problem.status,
      headers: { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' },
    });
  };

  app.get(`${SIGN_IN_LINK_PATH}/:token`, async (c) => {
    const token = c.req.param('token');
    const link = await usable(token);
    if (link instanceof Response) return link;
    const methods: LinkSignInMethod[] = [];
    if (googleClientCredentials(services.config)) {
      methods.push({ id: 'google', label: 'Sign in with Google', href: `${SIGN_IN_LINK_PATH}/${token}/google` });
    }
    if (await loadSamlIdpConfig(services.db, link.organizationId)) {
      methods.push({ id: 'saml', label: 'Sign in with your organization’s single sign-on (SAML)', href: `${SIGN_IN_LINK_PATH}/${token}/saml` });
    }
    return c.html(signInLinkPage({ link, methods }), 200, PAGE_HEADERS);
  });

  app.get(`${SIGN_IN_LINK_PATH}/:token/google`, async (c) => {
    const link = await usable(c.req.param('token'));
    if (link instanceof Response) return link;
    try {
      const { url, preLogin } = await google.start({ organizationHint: link.organizationId, returnTo: '/', loginHint: link.email });
      const handle = await preLogins.save<GooglePreLogin>('google', { ...preLogin, signInLinkId: link.id });
      await preLogins.rememberOrganization('google', [handle, preLogin.state], link.organizationId);
      setGooglePreLoginCookie(c, services, handle);
      for (const [name, value] of Object.entries(PAGE_HEADERS)) c.header(name, value);
      return c.redirect(url, 302);
    } catch (err) {
      return failSignIn(c, services, err, { method: 'google', organizationId: link.organizationId });
    }
  });

  app.get(`${SIGN_IN_LINK_PATH}/:token/saml`, async (c) => {
    const link = await usable(c.req.param('token'));
    if (link instanceof Response) return link;
    try {
      const { url, handle } = await sp.startLogin(link.organizationId, '/', { signInLinkId: link.id });
      setSamlPreLoginCookie(c, services, link.organizationId, handle);
      for (const [name, value] of Object.entries(PAGE_HEADERS)) c.header(name, value);
      return c.redirect(url, 302);
    } catch (err) {
      return failSignIn(c, services, err, { method: 'saml', organizationId: link.organizationId });
    }
  });
};
