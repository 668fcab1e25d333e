import { createRoute, z } from '@hono/zod-openapi';
import { decodeAuditCursor, listAudit } from '../../audit/audit-log.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { isoInstant } from '../../db/ranges.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { AuditActorSchema } from '../schemas/revocations.ts';
import { errorResponse as err } from '../schemas.ts';

/** `GET /v1/admin/audit`: the organization's audit log of administrative actions, newest first. */

const AuditEntrySchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid().nullable(),
    actor: AuditActorSchema,
    action: z.string(),
    target: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).openapi({ description: 'Facts of the action; their keys depend on `action`' }),
    createdAt: z.string(),
  })
  .openapi('AuditEntry');

export const adminAuditRoutes: RouteModule = (app, services) => {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/audit',
      operationId: 'listAuditEntries',
      description: 'Organization administrators only. Administrative actions in the organization, newest first, paged with `cursor`.',
      tags: ['Audit (admin)'],
      summary: 'Administrative actions in the organization (revocations, retention runs, exports, verifications)',
      middleware: [sessionAuth(services.sessions), requireAdmin()],
      security: [{ session: [] }],
      request: {
        query: z.object({
          action: z.string().min(1).max(100).optional(),
          target: z.string().min(1).max(300).optional(),
          from: isoInstant().optional(),
          to: isoInstant().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().max(200).optional(),
        }),
      },
      responses: {
        200: {
          description: 'A page; pass `nextCursor` as `cursor` for the next one',
          content: { 'application/json': { schema: z.object({ items: z.array(AuditEntrySchema), nextCursor: z.string().nullable() }) } },
        },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      if (q.cursor && !decodeAuditCursor(q.cursor)) throw new ApiError(400, 'invalid_cursor', 'the cursor is not one this API returned');
      const p = c.get('principal') as UserPrincipal;
      const page = await listAudit(services.db, {
        organizationId: p.organizationId,
        action: q.action,
        target: q.target,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        limit: q.limit,
        cursor: q.cursor,
      });
      return c.json(
        {
          items: page.items.map((e) => ({ ...e, createdAt: e.createdAt.toISOString() })),
          nextCursor: page.nextCursor,
        },
        200,
      );
    },
  );
};
