import { createRoute, z } from '@hono/zod-openapi';
import { enqueueRevocation } from '../../revocation/queue.ts';
import { loadRevocation } from '../../revocation/receipt.ts';
import { recordSecurityEvent } from '../../security/events.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { superAdminAuth } from '../middleware/super-admin-auth.ts';
import { accepted, requestContext, revokeOrThrow, viewRevocation } from '../revocation-view.ts';
import { AcceptedSchema, RevocationViewSchema } from '../schemas/revocations.ts';
import { ErrorSchema } from '../schemas.ts';

const SuperRevocationSchema = z
  .object({ platform: z.string().min(1).max(64), reason: z.string().trim().min(1).max(1000), purgeRemote: z.boolean().default(false) })
  .openapi('SuperAdminRevocationRequest');

/** `/v1/super-admin/revocations`: the deployment super administrator revokes a platform everywhere. */
export const superAdminRevocationRoutes: RouteModule = (app, services) => {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/super-admin/revocations',
      operationId: 'createDeploymentRevocation',
      description:
        "Deployment super administrator only. Revokes a platform for every organization; each organization's connections are revoked through its own revocation.",
      tags: ['revocation'],
      summary: 'Revoke a platform for every organization (deployment super administrator)',
      security: [{ superAdmin: [] }],
      middleware: [superAdminAuth(), idempotency()] as const,
      request: { headers: IdempotencyHeaders, body: { content: { 'application/json': { schema: SuperRevocationSchema } }, required: true } },
      responses: {
        202: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Revoked everywhere; clean-up in progress' },
        200: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Already revoked' },
        400: { content: { 'application/json': { schema: ErrorSchema } }, description: '`validation_failed`' },
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`invalid_super_admin_token`' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: '`super_admin_disabled`' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: '`nothing_to_revoke`' },
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const result = await revokeOrThrow(services, {
        organizationId: null,
        target: { kind: 'platform_all_organizations', platform: body.platform },
        reason: body.reason,
        purgeRemote: body.purgeRemote,
        requestedBy: { kind: 'super_admin' },
        enqueue: (rid) => enqueueRevocation(services, rid),
      });
      await recordSecurityEvent(services.db, {
        organizationId: null,
        kind: 'revocation.requested',
        outcome: 'success',
        reason: body.reason,
        ...requestContext(c),
        details: { revocationId: result.revocationId, platform: body.platform, scope: 'all_organizations' },
      });
      return c.json(accepted(result), result.created ? 202 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/super-admin/revocations/{id}',
      operationId: 'getDeploymentRevocation',
      description: 'Deployment super administrator only. Progress of a deployment-wide revocation and, once complete, its signed receipt.',
      tags: ['revocation'],
      summary: 'Progress and receipt of a deployment-wide revocation',
      security: [{ superAdmin: [] }],
      middleware: [superAdminAuth()] as const,
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        200: { content: { 'application/json': { schema: RevocationViewSchema } }, description: 'The revocation' },
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`invalid_super_admin_token`' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Not found' },
      },
    }),
    async (c) => {
      const row = await loadRevocation(services.db, c.req.valid('param').id);
      if (!row) throw new ApiError(404, 'not_found', 'revocation not found');
      return c.json({ revocation: await viewRevocation(services, row) }, 200);
    },
  );
};
