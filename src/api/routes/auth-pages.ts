import { getCookie } from 'hono/cookie';
import { safeReturnTo } from '../../auth/return-to.ts';
import { clearSessionCookie, SESSION_COOKIE } from '../../auth/sessions.ts';
import { homePage, loginPage, SIGN_IN_PAGE_HEADERS as PAGE_HEADERS } from '../../web/sign-in/pages.tsx';
import type { RouteModule } from '../env.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `GET /login` (sign-in buttons; `?org=<id>` adds the organization's OneLogin button) and `GET /`
 * (the signed-in user, or a redirect to `/login`). HTML for people; the SPA uses `/v1/me`.
 */
export const authPageRoutes: RouteModule = (app, services) => {
  app.get('/login', async (c) => {
    const orgId = c.req.query('org');
    const org =
      orgId && UUID.test(orgId)
        ? await services.db
            .selectFrom('organizations')
            .leftJoin('saml_configs', 'saml_configs.organization_id', 'organizations.id')
            .select(['organizations.id', 'organizations.name', 'saml_configs.organization_id as samlOrg'])
            .where('organizations.id', '=', orgId.toLowerCase())
            .executeTakeFirst()
        : undefined;
    return c.html(
      loginPage({
        returnTo: safeReturnTo(c.req.query('returnTo')),
        error: c.req.query('error') ?? null,
        loggedOut: c.req.query('loggedOut') === '1',
        organization: org ? { id: org.id, name: org.name, saml: org.samlOrg !== null } : null,
      }),
      200,
      PAGE_HEADERS,
    );
  });

  app.get('/', async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    const session = id ? await services.sessions.touch(id) : null;
    const row = session
      ? await services.db
          .selectFrom('users')
          .innerJoin('organizations', 'organizations.id', 'users.organization_id')
          .select(['users.email', 'users.name', 'users.role', 'users.status', 'organizations.id as orgId', 'organizations.name as orgName'])
          .where('users.id', '=', session.userId)
          .where('users.organization_id', '=', session.organizationId)
          .executeTakeFirst()
      : undefined;
    if (!session || !row || row.status !== 'active') {
      if (id) clearSessionCookie(c);
      return c.redirect('/login', 302);
    }
    const samlOrg = session.method.startsWith('saml:') ? session.method.slice('saml:'.length) : null;
    return c.html(
      homePage({
        user: { name: row.name, email: row.email },
        organization: { id: row.orgId, name: row.orgName },
        role: row.role,
        csrfToken: session.csrfToken,
        samlLogoutUrl: samlOrg ? `/auth/saml/${samlOrg}/logout?csrf=${encodeURIComponent(session.csrfToken)}` : null,
      }),
      200,
      PAGE_HEADERS,
    );
  });
};
