import { createRoute, z } from '@hono/zod-openapi';
import { createWebhookEndpoint, deleteWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints, rotateWebhookSecret } from '../../webhooks/endpoints.ts';
import type { RouteModule } from '../env.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { common, EndpointIdParams, EndpointSchema, organizationOf, page, pageQuery, SecretAnswerSchema } from '../schemas/webhooks.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * `/v1/admin/webhooks`: an organization administrator registers the endpoints of the platform's
 * backend that receive signed events (connection status changes, sync failures, revocation
 * receipts, invitations, integrity failures), rotates their secrets, reads the delivery log and
 * replays a delivery. A secret is shown once, in the create or rotate answer.
 */

export const webhookRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions), requireAdmin()], security: [{ session: [] }], tags: ['Webhooks'] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/webhooks',
      operationId: 'listWebhookEndpoints',
      summary: "The organization's webhook endpoints",
      description: 'Live endpoints, newest first, without their secrets.',
      ...auth,
      request: { query: z.object(pageQuery) },
      responses: {
        200: { description: 'A page of endpoints', content: { 'application/json': { schema: page(EndpointSchema, 'WebhookEndpointPage') } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        ...common,
      },
    }),
    async (c) => {
      const { organizationId } = organizationOf(c);
      return c.json(await listWebhookEndpoints(services.db, { organizationId, ...c.req.valid('query') }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/webhooks',
      operationId: 'createWebhookEndpoint',
      summary: 'Register a webhook endpoint (its secret is shown once)',
      description:
        'Events are POSTed as JSON, signed with HMAC-SHA256 over `<timestamp>.<body>` (README, "Webhooks"). The URL must be https and resolve to public addresses only (unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES).',
      ...auth,
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({
                  url: z.string().min(1).max(2000),
                  description: z.string().trim().max(200).optional(),
                  events: z.array(z.string().max(64)).min(1).max(50).optional().openapi({ description: 'Event types to deliver; absent = every type' }),
                })
                .openapi({ example: { url: 'https://app.example.com/hooks/casebridge', events: ['connection.reauth_required', 'sync.failed'] } }),
            },
          },
        },
      },
      responses: {
        201: { description: 'Created; `secret` is shown only here', content: { 'application/json': { schema: SecretAnswerSchema } } },
        400: err('`validation_failed`, `webhook_url_invalid`, `webhook_url_private`, `unknown_event_type`'),
        ...common,
        409: err('`webhook_endpoint_limit` (20 live endpoints per organization)'),
        503: err('`webhook_secrets_unavailable`'),
      },
    }),
    async (c) => {
      const { organizationId, userId } = organizationOf(c);
      const body = c.req.valid('json');
      const created = await createWebhookEndpoint(services, { organizationId, createdBy: userId, ...body });
      services.logger.info({ organizationId, webhookEndpointId: created.endpoint.id }, 'webhook endpoint created');
      return c.json(created, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/webhooks/{id}',
      operationId: 'getWebhookEndpoint',
      summary: 'One webhook endpoint',
      description: 'The endpoint without its secret.',
      ...auth,
      request: { params: EndpointIdParams },
      responses: {
        200: { description: 'The endpoint', content: { 'application/json': { schema: EndpointSchema } } },
        400: err('`validation_failed`'),
        ...common,
        404: err('`not_found`'),
      },
    }),
    async (c) => {
      const { organizationId } = organizationOf(c);
      return c.json(await getWebhookEndpoint(services.db, { organizationId, id: c.req.valid('param').id }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/webhooks/{id}',
      operationId: 'deleteWebhookEndpoint',
      summary: 'Delete a webhook endpoint',
      description: 'Its secrets are destroyed and its pending deliveries cancelled; nothing more is sent to it.',
      ...auth,
      request: { params: EndpointIdParams },
      responses: { 204: { description: 'Deleted' }, 400: err('`validation_failed`'), ...common, 404: err('`not_found`') },
    }),
    async (c) => {
      const { organizationId } = organizationOf(c);
      const { id } = c.req.valid('param');
      await deleteWebhookEndpoint(services.db, { organizationId, id });
      services.logger.info({ organizationId, webhookEndpointId: id }, 'webhook endpoint deleted');
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/webhooks/{id}/rotate-secret',
      operationId: 'rotateWebhookSecret',
      summary: "Rotate an endpoint's signing secret (the new one is shown once)",
      description:
        'The new secret signs from now on; the previous one keeps signing beside it (two `v1=` values in `Casebridge-Webhook-Signature`) for `overlapHours` (default WEBHOOK_SECRET_OVERLAP_HOURS), so the receiver can switch without losing an event.',
      ...auth,
      request: {
        params: EndpointIdParams,
        body: {
          required: false,
          content: {
            'application/json': {
              schema: z.object({ overlapHours: z.number().int().min(0).max(720).optional() }).openapi({ example: { overlapHours: 24 } }),
            },
          },
        },
      },
      responses: {
        200: { description: 'Rotated; `secret` is shown only here', content: { 'application/json': { schema: SecretAnswerSchema } } },
        400: err('`validation_failed`'),
        ...common,
        404: err('`not_found`'),
        409: err('`webhook_rotation_conflict`'),
        503: err('`webhook_secrets_unavailable`'),
      },
    }),
    async (c) => {
      const { organizationId } = organizationOf(c);
      const { id } = c.req.valid('param');
      const body = (c.req.valid('json') as { overlapHours?: number } | undefined) ?? {};
      const rotated = await rotateWebhookSecret(services, { organizationId, id, overlapHours: body.overlapHours });
      services.logger.info({ organizationId, webhookEndpointId: id }, 'webhook secret rotated');
      return c.json(rotated, 200);
    },
  );
};
