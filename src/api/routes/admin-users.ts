import { createRoute, z } from '@hono/zod-openapi';
import { recordAudit } from '../../audit/audit-log.ts';
import { unlinkIdentity } from '../../auth/identities.ts';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { LastAdminError, listUsers, updateUser } from '../../auth/users.ts';
import { recordSecurityEvent } from '../../security/events.ts';
import type { RouteModule } from '../env.ts';
import { ApiError, notFound } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { errorResponse as err } from '../schemas.ts';

const UserSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    pictureUrl: z.string().nullable(),
    role: z.enum(['member', 'admin']),
    status: z.enum(['active', 'disabled']),
    createdAt: z.string(),
    lastLoginAt: z.string().nullable(),
    identities: z.array(
      z.object({
        id: z.uuid(),
        provider: z.string(),
        issuer: z.string().describe("Google's issuer, or the SAML IdP entity id"),
        subject: z.string().describe('Google account id, or the SAML NameID'),
        lastLoginAt: z.string().nullable(),
      }),
    ),
  })
  .openapi('User');

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * `GET /v1/admin/users`, `PATCH /v1/admin/users/{id}` (role, status) and
 * `DELETE /v1/admin/users/{id}/identities/{identityId}` (unlink a sign-in identity). Disabling a
 * user ends their sessions at once; the organization always keeps one active administrator.
 */
export const adminUserRoutes: RouteModule = (app, services) => {
  const guard = [sessionAuth(services.sessions), requireAdmin()] as const;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/users',
      operationId: 'listUsers',
      description: 'Organization administrators only. Every user of the organization with role, status and linked sign-in identities, by e-mail address.',
      tags: ['Users (admin)'],
      summary: "The organization's users, with their sign-in identities",
      middleware: [...guard],
      security: [{ session: [] }],
      responses: {
        200: { description: 'Users, in one page', content: { 'application/json': { schema: z.object({ items: z.array(UserSchema), nextCursor: z.null() }) } } },
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const items = (await listUsers(services.db, p.organizationId)).map((u) => ({
        ...u,
        createdAt: u.createdAt.toISOString(),
        lastLoginAt: iso(u.lastLoginAt),
        identities: u.identities.map((i) => ({ ...i, lastLoginAt: iso(i.lastLoginAt) })),
      }));
      return c.json({ items, nextCursor: null }, 200);
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
      request: {
        params: z.object({ id: z.uuid() }),
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({ role: z.enum(['member', 'admin']).optional(), status: z.enum(['active', 'disabled']).optional() })
                .strict()
                .refine((b) => b.role !== undefined || b.status !== undefined, { message: 'give role and/or status' }),
            },
          },
        },
      },
      responses: {
        200: {
          description: 'Updated',
          content: {
            'application/json': { schema: z.object({ user: z.object({ id: z.uuid(), role: z.string(), status: z.string() }), sessionsEnded: z.number() }) },
          },
        },
        400: err('`validation_failed`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        404: err('`not_found` (also for users of other organizations)'),
        409: err('`last_admin`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      let result: Awaited<ReturnType<typeof updateUser>>;
      try {
        result = await updateUser(services.db, { organizationId: p.organizationId, userId: id, role: body.role, status: body.status });
      } catch (e) {
        if (e instanceof LastAdminError) throw new ApiError(409, e.code, e.message);
        throw e;
      }
      if (!result) throw notFound('user');
      const sessionsEnded = result.after.status === 'disabled' ? await services.sessions.endForUser(id) : 0;
      await recordSecurityEvent(services.db, {
        organizationId: p.organizationId,
        userId: id,
        actorUserId: p.userId,
        kind: 'user_updated',
        outcome: 'success',
        method: 'admin',
        ip: clientIp(c),
        userAgent: userAgent(c),
        details: { before: result.before, after: result.after, sessionsEnded },
      });
      return c.json({ user: { id, ...result.after }, sessionsEnded }, 200);
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
      request: { params: z.object({ id: z.uuid(), identityId: z.uuid() }) },
      responses: {
        200: {
          description: 'Unlinked',
          content: {
            'application/json': {
              schema: z.object({
                identity: z.object({ id: z.uuid(), provider: z.string(), issuer: z.string(), subject: z.string() }),
                sessionsEnded: z.number(),
              }),
            },
          },
        },
        400: err('`validation_failed`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        404: err('`not_found` (also for identities of other users or organizations)'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const { id, identityId } = c.req.valid('param');
      const identity = await unlinkIdentity(services.db, { organizationId: p.organizationId, userId: id, identityId });
      if (!identity) throw notFound('identity');
      let sessionsEnded = 0;
      for (const { handle, session } of await services.sessions.listForUser(id)) {
        if (session.identityId === identityId) sessionsEnded += await services.sessions.endForUser(id, handle);
      }
      const { userId: _user, ...shown } = identity;
      await recordAudit(services.db, {
        organizationId: p.organizationId,
        actor: { kind: 'user', userId: p.userId },
        action: 'identity.unlink',
        target: `identity:${identityId}`,
        details: { userId: id, provider: identity.provider, issuer: identity.issuer, sessionsEnded },
      });
      await recordSecurityEvent(services.db, {
        organizationId: p.organizationId,
        userId: id,
        actorUserId: p.userId,
        kind: 'identity_unlinked',
        outcome: 'success',
        method: 'admin',
        ip: clientIp(c),
        userAgent: userAgent(c),
        details: { ...shown, sessionsEnded },
      });
      return c.json({ identity: shown, sessionsEnded }, 200);
    },
  );
};
