import { createRoute, z } from '@hono/zod-openapi';
import type { UserPrincipal } from '../../auth/principal.ts';
import { decodeCursor, listSecurityEvents } from '../../security/events.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { pageOf } from '../pagination.ts';
import { errorResponse as err } from '../schemas.ts';

const SecurityEventSchema = z
  .object({
    id: z.uuid(),
    userId: z.uuid().nullable(),
    actorUserId: z.uuid().nullable(),
    kind: z.string().describe('`login`, `logout`, `session_ended_by_admin`, `user_updated`, `saml_config_updated`, ...'),
    outcome: z.enum(['success', 'failure']),
    reason: z.string().nullable().describe('For failures: the error code (e.g. `saml_signature_invalid`)'),
    method: z.string().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
  })
  .openapi('SecurityEvent');

/** `GET /v1/admin/security-events`: the organization's security event log, newest first. */
export const securityEventRoutes: RouteModule = (app, services) => {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/security-events',
      operationId: 'listSecurityEvents',
      description: 'Organization administrators only. Sign-in and session events, newest first, paged with `cursor`.',
      tags: ['Sign-in (admin)'],
      summary: 'Logins (with failure reasons), logouts, sessions ended by admins, role changes',
      middleware: [sessionAuth(services.sessions), requireAdmin()],
      security: [{ session: [] }],
      request: {
        query: z.object({
          kind: z.string().min(1).max(64).optional(),
          outcome: z.enum(['success', 'failure']).optional(),
          userId: z.uuid().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().max(200).optional(),
        }),
      },
      responses: {
        200: {
          description: 'A page; pass `nextCursor` as `cursor` for the next one',
          content: { 'application/json': { schema: pageOf(SecurityEventSchema, 'SecurityEventPage') } },
        },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      if (q.cursor && !decodeCursor(q.cursor)) throw new ApiError(400, 'invalid_cursor', 'the cursor is not one this API returned');
      const p = c.get('principal') as UserPrincipal;
      const page = await listSecurityEvents(services.db, { organizationId: p.organizationId, ...q });
      return c.json(
        {
          items: page.events.map(({ organizationId: _org, ...e }) => ({ ...e, createdAt: e.createdAt.toISOString() })),
          nextCursor: page.nextCursor,
        },
        200,
      );
    },
  );
};
