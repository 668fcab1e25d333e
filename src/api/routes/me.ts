import { createRoute, z } from '@hono/zod-openapi';
import type { UserPrincipal } from '../../auth/principal.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { ErrorSchema } from '../schemas.ts';

const MeSchema = z
  .object({
    user: z.object({ id: z.uuid(), email: z.string(), name: z.string().nullable(), pictureUrl: z.string().nullable() }),
    organization: z.object({ id: z.uuid(), name: z.string() }),
    role: z.enum(['member', 'admin']),
    csrfToken: z.string().describe('Send as `X-CSRF-Token` on every state-changing request'),
    session: z.object({
      method: z.string().describe('`google` or `saml`'),
      createdAt: z.string(),
      absoluteExpiresAt: z.string(),
    }),
  })
  .openapi('Me');

/** `GET /v1/me`: who is signed in (for the SPA), with the CSRF token for state-changing calls. */
export const meRoutes: RouteModule = (app, services) => {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/me',
      operationId: 'getMe',
      description:
        "Who is signed in, in which organization and role, how the session started and when it expires. The answer carries the session's CSRF token, to send as `X-CSRF-Token` on every state-changing call.",
      tags: ['Session'],
      summary: 'The signed-in user, organization, role and CSRF token',
      middleware: [sessionAuth(services.sessions)],
      security: [{ session: [] }],
      responses: {
        200: { description: 'The signed-in user', content: { 'application/json': { schema: MeSchema } } },
        401: { description: '`unauthenticated`, `session_revoked`', content: { 'application/json': { schema: ErrorSchema } } },
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const [session, row] = await Promise.all([
        services.sessions.get(p.sessionId),
        services.db
          .selectFrom('users')
          .innerJoin('organizations', 'organizations.id', 'users.organization_id')
          .select(['users.id', 'users.email', 'users.name', 'users.picture_url', 'organizations.id as orgId', 'organizations.name as orgName'])
          .where('users.id', '=', p.userId)
          .where('users.organization_id', '=', p.organizationId)
          .executeTakeFirst(),
      ]);
      if (!session || !row) throw new ApiError(401, 'unauthenticated', 'sign in first');
      return c.json(
        {
          user: { id: row.id, email: row.email, name: row.name, pictureUrl: row.picture_url },
          organization: { id: row.orgId, name: row.orgName },
          role: p.role,
          csrfToken: session.csrfToken,
          session: {
            method: session.method.startsWith('saml:') ? 'saml' : session.method,
            createdAt: new Date(session.createdAt).toISOString(),
            absoluteExpiresAt: new Date(session.absoluteExpiresAt).toISOString(),
          },
        },
        200,
      );
    },
  );
};
