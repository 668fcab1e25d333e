import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { changeUserAsAdmin, unlinkIdentityAsAdmin } from '../../auth/user-admin.ts';
import { listUsersPage, USER_CURSOR } from '../../auth/users.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { decodeListCursor, pageQuery } from '../pagination.ts';
import { IdentityUnlinkedSchema, UserIdentityParams, UserIdParams, UserListSchema, UserUpdatedSchema, UserUpdateSchema } from '../schemas/users.ts';
import { errorResponse as err } from '../schemas.ts';
import { userView } from '../user-view.ts';

/**
 * `GET /v1/admin/users`, `PATCH /v1/admin/users/{id}` (role, status) and
 * `DELETE /v1/admin/users/{id}/identities/{identityId}` (unlink a sign-in identity). Disabling a
 * user ends their sessions at once; the organization always keeps one active administrator. The
 * rules are `src/auth/user-admin.ts`.
 */
export const adminUserRoutes: RouteModule = (app, services) => {
  const guard = [sessionAuth(services.sessions), requireAdmin()] as const;
  /** The administrator acting, and from where (for the security events). */
  const actorOf = (c: Context<AppEnv>) => {
    const p = c.get('principal') as UserPrincipal;
    return { organizationId: p.organizationId, actorUserId: p.userId, ip: clientIp(c), userAgent: userAgent(c) };
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/users',
      operationId: 'listUsers',
      description:
        'Organization administrators only. Every user of the organization with role, status and linked sign-in identities, by e-mail address, paged with `cursor`.',
      tags: ['Users (admin)'],
      summary: "The organization's users, with their sign-in identities",
      middleware: [...guard],
      security: [{ session: [] }],
      request: { query: pageQuery() },
      responses: {
        200: { description: 'A page of users', content: { 'application/json': { schema: UserListSchema } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const organizationId = (c.get('principal') as UserPrincipal).organizationId;
      const page = await listUsersPage(services.db, { organizationId, limit: q.limit, cursor: decodeListCursor(q.cursor, USER_CURSOR) });
      return c.json({ items: page.items.map(userView), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/admin/users/{id}',
      operationId: 'updateUser',
      description:
        "Organization administrators only. Changes a user's role or status; disabling a user ends their sessions at once. The last active administrator cannot be demoted or disabled.",
      tags: ['Users (admin)'],
      summary: "Change a user's role or status (disabling ends their sessions)",
      middleware: [...guard],
      security: [{ session: [] }],
      request: { params: UserIdParams, body: { required: true, content: { 'application/json': { schema: UserUpdateSchema } } } },
      responses: {
        200: { description: 'Updated', content: { 'application/json': { schema: UserUpdatedSchema } } },
        400: err('`validation_failed`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        404: err('`not_found` (also for users of other organizations)'),
        409: err('`last_admin`'),
      },
    }),
    async (c) => {
      const { role, status } = c.req.valid('json');
      const result = await changeUserAsAdmin(services, { ...actorOf(c), userId: c.req.valid('param').id, role, status });
      return c.json(result, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/users/{id}/identities/{identityId}',
      operationId: 'unlinkUserIdentity',
      tags: ['Users (admin)'],
      summary: 'Unlink a sign-in identity from a user (ends the sessions it opened; audited)',
      description:
        'The next sign-in with this Google account or SAML NameID is resolved afresh by the sign-in policy. Use it to undo a wrong link, e.g. an identity linked to the wrong user.',
      middleware: [...guard],
      security: [{ session: [] }],
      request: { params: UserIdentityParams },
      responses: {
        200: { description: 'Unlinked', content: { 'application/json': { schema: IdentityUnlinkedSchema } } },
        400: err('`validation_failed`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        404: err('`not_found` (also for identities of other users or organizations)'),
      },
    }),
    async (c) => {
      const { id, identityId } = c.req.valid('param');
      return c.json(await unlinkIdentityAsAdmin(services, { ...actorOf(c), userId: id, identityId }), 200);
    },
  );
};
