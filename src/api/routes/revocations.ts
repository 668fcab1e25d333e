import { createRoute, z } from '@hono/zod-openapi';
import type { UserPrincipal } from '../../auth/principal.ts';
import { listRevocations } from '../../revocation/list.ts';
import { enqueueRevocation } from '../../revocation/queue.ts';
import { loadRevocation } from '../../revocation/receipt.ts';
import { adminRevocation, RevocationError, type RevocationTarget } from '../../revocation/service.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { decodePageCursor, pageOf, pageQuery } from '../pagination.ts';
import { accepted, requestContext, viewRevocation } from '../revocation-view.ts';
import { AcceptedSchema, RevocationRequestSchema, RevocationSummarySchema, RevocationViewSchema } from '../schemas/revocations.ts';
import { ErrorSchema } from '../schemas.ts';

/**
 * `/v1/admin/revocations`: an organization administrator revokes a connection, a user, the
 * organization or a platform, follows its progress and reads its signed receipt. The pipeline is
 * `src/revocation/`; the user's own disconnect, the platform switch and the deployment-wide
 * revocation have their own route files.
 */
export const registerRevocationRoutes: RouteModule = (app, services) => {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/revocations',
      operationId: 'createRevocation',
      tags: ['revocation'],
      summary: 'Revoke a connection, a user, the organization or a platform',
      description:
        'Before answering, the target connections are revoked, their consents withdrawn, revocation epochs bumped and in-flight transfers drained: nothing leaves after the response. Clean-up (jobs, provider tokens, stored ciphertext, optional remote purge) continues asynchronously; poll the revocation for progress and the signed receipt.',
      security: [{ session: [] }],
      middleware: [sessionAuth(services.sessions), requireAdmin(), idempotency()] as const,
      request: { headers: IdempotencyHeaders, body: { content: { 'application/json': { schema: RevocationRequestSchema } }, required: true } },
      responses: {
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`unauthenticated`' },
        202: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Revoked; clean-up in progress' },
        200: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Already revoked; nothing changed' },
        400: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Invalid request' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Not an administrator' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Target not found in this organization' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const body = c.req.valid('json');
      let result: Awaited<ReturnType<typeof adminRevocation>>;
      try {
        result = await adminRevocation(services, {
          organizationId: p.organizationId,
          adminUserId: p.userId,
          target: body.target as RevocationTarget,
          reason: body.reason,
          purgeRemote: body.purgeRemote,
          ...requestContext(c),
          enqueue: (id) => enqueueRevocation(services, id),
        });
      } catch (err) {
        if (err instanceof RevocationError) throw new ApiError(404, err.code, err.message);
        throw err;
      }
      return c.json(accepted(result), result.created ? 202 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/revocations/{id}',
      operationId: 'getRevocation',
      description: "Organization administrators only. A revocation's progress per connection and, once complete, its signed receipt.",
      tags: ['revocation'],
      summary: 'Progress of a revocation and, when complete, its signed receipt',
      security: [{ session: [] }],
      middleware: [sessionAuth(services.sessions), requireAdmin()] as const,
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`unauthenticated`' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: '`admin_required`, `csrf_token_invalid`' },
        200: { content: { 'application/json': { schema: RevocationViewSchema } }, description: 'The revocation' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Not found' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const row = await loadRevocation(services.db, c.req.valid('param').id, p.organizationId);
      if (!row) throw new ApiError(404, 'not_found', 'revocation not found');
      return c.json({ revocation: await viewRevocation(services, row) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/revocations',
      operationId: 'listRevocations',
      description: "Organization administrators only. The organization's revocations, newest first, paged with `cursor`.",
      tags: ['revocation'],
      summary: "The organization's revocations, newest first",
      security: [{ session: [] }],
      middleware: [sessionAuth(services.sessions), requireAdmin()] as const,
      request: { query: pageQuery() },
      responses: {
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`unauthenticated`' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: '`admin_required`, `csrf_token_invalid`' },
        200: { content: { 'application/json': { schema: pageOf(RevocationSummarySchema, 'RevocationPage') } }, description: 'A page of revocations' },
        400: { content: { 'application/json': { schema: ErrorSchema } }, description: '`validation_failed`, `invalid_cursor`' },
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const { limit, cursor } = c.req.valid('query');
      return c.json(await listRevocations(services.db, { organizationId: p.organizationId, limit, cursor: decodePageCursor(cursor) }), 200);
    },
  );
};
