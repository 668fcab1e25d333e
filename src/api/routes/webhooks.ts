import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { requireAdmin, sessionAuth } from '../../auth/sessions.ts';
import { createWebhookEndpoint, deleteWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints, rotateWebhookSecret } from '../../webhooks/endpoints.ts';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/events.ts';
import { listWebhookDeliveries, replayWebhookDelivery } from '../../webhooks/outbox.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * `/v1/admin/webhooks`: an organization administrator registers the endpoints of the platform's
 * backend that receive signed events (connection status changes, sync failures, revocation
 * receipts, invitations, integrity failures), rotates their secrets, reads the delivery log and
 * replays a delivery. A secret is shown once, in the create or rotate answer.
 */

const ID_EXAMPLE = '0b9d3c1e-5f7a-4c2b-9e8d-1a2b3c4d5e6f';

const EventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES as [string, ...string[]]).openapi('WebhookEventType', { example: 'connection.active' });

const EndpointSchema = z
  .object({
    id: z.uuid(),
    url: z.string().openapi({ example: 'https://app.example.com/hooks/casebridge' }),
    description: z.string().nullable(),
    events: z.array(EventTypeSchema).nullable().openapi({ description: 'Event types delivered; null = every type' }),
    previousSecretExpiresAt: z.string().nullable().openapi({ description: 'Until when the previous secret still signs, after a rotation' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookEndpoint', {
    example: {
      id: ID_EXAMPLE,
      url: 'https://app.example.com/hooks/casebridge',
      description: 'case-management backend',
      events: null,
      previousSecretExpiresAt: null,
      createdAt: '2026-12-04T10:00:00.000Z',
      updatedAt: '2026-12-04T10:00:00.000Z',
    },
  });

const SecretAnswerSchema = z
  .object({
    endpoint: EndpointSchema,
    secret: z.string().openapi({ description: 'The signing secret (`whsec_…`). Shown only in this answer; store it now.' }),
  })
  .openapi('WebhookEndpointWithSecret');

const DeliverySchema = z
  .object({
    id: z.uuid(),
    eventId: z.uuid().openapi({ description: 'The event id (`Casebridge-Webhook-Id`): the same on every attempt and replay' }),
    eventType: EventTypeSchema,
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled']),
    replayOf: z.uuid().nullable(),
    attemptCount: z.number().int(),
    lastAttemptAt: z.string().nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    deliveredAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('WebhookDelivery', {
    example: {
      id: ID_EXAMPLE,
      eventId: '7c1f0a4e-2b3d-4e5f-8a9b-0c1d2e3f4a5b',
      eventType: 'connection.reauth_required',
      status: 'pending',
      replayOf: null,
      attemptCount: 2,
      lastAttemptAt: '2026-12-04T10:00:30.000Z',
      lastStatusCode: 500,
      lastError: 'the endpoint answered 500',
      nextAttemptAt: '2026-12-04T10:01:10.000Z',
      deliveredAt: null,
      createdAt: '2026-12-04T10:00:00.000Z',
    },
  });

const page = (item: z.ZodType, name: string) =>
  z
    .object({ items: z.array(item), nextCursor: z.string().nullable().openapi({ description: 'Pass as `cursor` for the next page; null on the last' }) })
    .openapi(name);

const EndpointIdParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' }, example: ID_EXAMPLE }) });
const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
};

const common = {
  401: err('`unauthenticated`'),
  403: err('`admin_required`, `csrf_token_invalid`'),
};

function organizationOf(c: Context<AppEnv>): { organizationId: string; userId: string } {
  const p = c.get('principal');
  if (p?.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
  return { organizationId: p.organizationId, userId: p.userId };
}

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

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/webhooks/{id}/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: "An endpoint's delivery log",
      description: 'Deliveries newest first: status, attempts, the last answer (status code or network error) and the next attempt.',
      ...auth,
      request: {
        params: EndpointIdParams,
        query: z.object({ ...pageQuery, status: z.enum(['pending', 'delivered', 'failed', 'cancelled']).optional(), eventId: z.uuid().optional() }),
      },
      responses: {
        200: { description: 'A page of deliveries', content: { 'application/json': { schema: page(DeliverySchema, 'WebhookDeliveryPage') } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        ...common,
        404: err('`not_found`'),
      },
    }),
    async (c) => {
      const { organizationId } = organizationOf(c);
      const { id } = c.req.valid('param');
      return c.json(await listWebhookDeliveries(services.db, { organizationId, endpointId: id, ...c.req.valid('query') }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/webhooks/{id}/deliveries/{deliveryId}/replay',
      operationId: 'replayWebhookDelivery',
      summary: 'Deliver an event again',
      description: 'A new delivery of the same event (same event id, so the receiver can deduplicate), queued at once, whatever the first outcome.',
      ...auth,
      request: {
        params: EndpointIdParams.extend({ deliveryId: z.uuid().openapi({ param: { name: 'deliveryId', in: 'path' }, example: ID_EXAMPLE }) }),
      },
      responses: {
        202: { description: 'Queued', content: { 'application/json': { schema: DeliverySchema } } },
        400: err('`validation_failed`'),
        ...common,
        404: err('`not_found`'),
      },
    }),
    async (c) => {
      const { organizationId } = organizationOf(c);
      const { id, deliveryId } = c.req.valid('param');
      const delivery = await replayWebhookDelivery(services.db, { organizationId, endpointId: id, deliveryId });
      // Straight onto the queue; the dispatcher would pick it up within a second anyway.
      await services.queues
        .enqueueWebhookDeliveries([delivery.id])
        .catch((e: unknown) => services.logger.warn({ err: e, deliveryId: delivery.id }, 'replay not queued yet; the dispatcher will'));
      return c.json(delivery, 202);
    },
  );
};
