import { createRoute, z } from '@hono/zod-openapi';
import { listWebhookDeliveries, replayWebhookDelivery } from '../../webhooks/outbox.ts';
import type { RouteModule } from '../env.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { common, DeliverySchema, EndpointIdParams, ID_EXAMPLE, organizationOf, page, pageQuery } from '../schemas/webhooks.ts';
import { errorResponse as err } from '../schemas.ts';

/** `/v1/admin/webhooks/{id}/deliveries`: the delivery log of an endpoint, and replaying one delivery. */
export const webhookDeliveryRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions), requireAdmin()], security: [{ session: [] }], tags: ['Webhooks'] };

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
