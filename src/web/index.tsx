/** @jsxImportSource hono/jsx */
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { connectors } from '../../connectors/registry.ts';
import type { App } from '../api/env.ts';
import { statusForCode } from '../api/error-status.ts';
import { ApiError, errorBody } from '../api/errors.ts';
import { SESSION_COOKIE } from '../auth/sessions.ts';
import { CallbackError } from '../connections/errors.ts';
import { completeAuthorization } from '../connections/service.ts';
import { CasebridgeError } from '../errors/casebridge-error.ts';
import type { Services } from '../services.ts';
import { registerAssets } from './assets.ts';
import { connectSessionOf, registerConnectLinkPage, registerConnectSessionApi } from './connect-sessions.ts';
import type { WebApp, WebEnv } from './env.ts';
import { PageError } from './errors.ts';
import { Layout } from './layout.tsx';
import { registerNavEntry } from './nav.ts';
import { registerAccessReportPages } from './pages/access-report.tsx';
import { registerAdminPages } from './pages/admin.tsx';
import { registerChangePages } from './pages/change.tsx';
import { registerConnectedApps } from './pages/connected-apps.tsx';
import { registerConnectionPages } from './pages/connection.tsx';
import { registerConsentPages } from './pages/consent.tsx';
import { registerInvitationPages } from './pages/invitation.tsx';
import { pageKit } from './pages/organization-connection.tsx';
import { registerSharedData } from './pages/shared-data.tsx';
import { registerQueueDashboard } from './queue-dashboard.ts';
import { sendPage } from './render.ts';
import { pageSecurity } from './security.ts';
import { pageSession } from './session.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Path prefixes of the signed-in pages. */
const PAGE_PATHS = ['/apps', '/apps/*', '/shared', '/shared/*', '/shared.csv', '/receipts/*', '/admin', '/admin/*'];

/**
 * The in-app pages (server-rendered with hono/jsx), mounted on the API app by `mountWebPages`. They
 * call the same domain functions as the API routes; errors render as pages with the same stable
 * codes the API uses.
 */
export function createWebPages(services: Services): WebApp {
  const web: WebApp = new Hono<WebEnv>();
  registerAssets(web);
  // The OAuth callback answers with `/?connected=<id>` (or `?connection_error=<code>`): a person
  // lands on that connection's progress instead of the plain home page.
  // The addresses people try first lead to the pages that replaced them.
  web.get('/connections', (c) => c.redirect('/apps', 302));
  web.get('/settings', (c) => c.redirect('/apps', 302));
  web.get('/transfers', (c) => c.redirect('/shared', 302));
  web.use('/', async (c, next) => {
    const connected = c.req.query('connected');
    if (connected && UUID.test(connected)) return c.redirect(`/apps/${connected.toLowerCase()}?connected=1`, 302);
    const error = c.req.query('connection_error');
    if (error && /^[a-z_]{1,64}$/.test(error)) return c.redirect(`/apps?error=${error}`, 302);
    await next();
  });
  web.use('/connect/*', pageSecurity());
  registerConnectLinkPage(web);
  // An invitation's page (no session: its token is the credential).
  web.use('/invitations/*', pageSecurity());
  registerInvitationPages(web);
  // A restricted (embedded) session finishes its provider authorization here: the API's callback
  // only reads the full session cookie. Same domain function, page answers.
  web.get('/v1/connections/oauth/callback', async (c, next) => {
    if (getCookie(c, SESSION_COOKIE)) return next();
    const embedded = await connectSessionOf(c);
    if (!embedded) return next();
    const { session, id } = embedded;
    const principal = { kind: 'user' as const, userId: session.userId, organizationId: session.organizationId, role: session.role, sessionId: id };
    try {
      const view = await completeAuthorization(c.get('services'), {
        principal,
        state: c.req.query('state'),
        code: c.req.query('code'),
        error: c.req.query('error'),
      });
      return c.redirect(`/apps/${view.id}?connected=1`, 302);
    } catch (err) {
      if (err instanceof CallbackError) return c.redirect(`/apps?error=${encodeURIComponent(err.code)}`, 302);
      throw err;
    }
  });
  const connectorPages = connectors.flatMap((c) => (c.pages ? [c.pages] : []));
  for (const path of [...PAGE_PATHS, ...connectorPages.flatMap((p) => p.paths)]) web.use(path, pageSecurity(), pageSession());
  registerConnectedApps(web);
  registerConsentPages(web);
  registerChangePages(web);
  registerConnectionPages(web);
  registerSharedData(web);
  for (const pages of connectorPages) {
    if (pages.nav) registerNavEntry(pages.nav);
    pages.register(web, pageKit);
  }
  registerAdminPages(web);
  registerAccessReportPages(web);
  registerQueueDashboard(web, services);
  web.onError((err, c) => {
    // Domain errors carry a code only; the API's one table says which status it is (src/api/error-status.ts).
    const domainStatus = err instanceof CasebridgeError ? statusForCode(err.code) : null;
    const known =
      err instanceof PageError || err instanceof ApiError
        ? { status: err.status, code: err.code, message: err.message }
        : err instanceof CasebridgeError && domainStatus !== null
          ? { status: domainStatus, code: err.code, message: err.message }
          : err instanceof HTTPException && err.status < 500
            ? { status: err.status, code: 'bad_request', message: 'The request could not be read.' }
            : null;
    if (!known) {
      c.get('services').logger.error({ err, requestId: c.get('requestId') }, 'unhandled error on a page');
    }
    const { status, code, message } = known ?? {
      status: 500,
      code: 'internal_error',
      message: `Something went wrong on our side (request id ${c.get('requestId')}).`,
    };
    if (!(c.req.header('accept') ?? '').includes('text/html')) return c.json(errorBody(code, message), status as 400);
    if (!c.get('nonce')) c.set('nonce', '');
    c.header('content-security-policy', "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    c.header('cache-control', 'no-store');
    return sendPage(
      c,
      <Layout
        title={status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status >= 500 ? 'Something went wrong' : 'That did not work'}
        nonce=""
        viewer={c.get('viewer') ?? null}
        csrfToken={c.get('csrfToken')}
      >
        <div class="notice notice-error" role="alert" data-error-code={code}>
          <p>{message}</p>
          <p class="muted">
            Code: <code>{code}</code>
          </p>
        </div>
        <p>
          <a href="/apps">Back to your connected apps</a>
        </p>
      </Layout>,
      status as 400,
    );
  });
  return web;
}

/** Mounts the pages on the API app (before the API's routes, so `/?connected=` is seen first). */
export function mountWebPages(app: App, services: Services): void {
  registerConnectSessionApi(app);
  app.route('/', createWebPages(services) as unknown as App);
}
