import { createRoute } from '@hono/zod-openapi';
import { eventResourceSchema } from '../../cases/resources.ts';
import { eventInputSchema } from '../../cases/schemas.ts';
import type { RouteModule } from '../env.ts';
import {
  externalIdParams,
  ifMatch,
  ifMatchHeaders,
  ingestAuth,
  ingestErrorResponses,
  ingestOne,
  registerReadAndDelete,
} from './ingest-common.ts';

/** `PUT|GET|DELETE /v1/ingest/events/{externalId}`: case events (court dates, deadlines, depositions, meetings, reminders). */
export const ingestEventRoutes: RouteModule = (app) => {
  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/ingest/events/{externalId}',
      tags: ['Ingest'],
      summary: 'Create or update an event of a case (timed in an IANA zone, or all-day with an inclusive end date)',
      ...ingestAuth,
      request: {
        params: externalIdParams,
        headers: ifMatchHeaders,
        body: { required: true, content: { 'application/json': { schema: eventInputSchema } } },
      },
      responses: {
        200: { description: 'Updated or unchanged', content: { 'application/json': { schema: eventResourceSchema } } },
        201: { description: 'Created', content: { 'application/json': { schema: eventResourceSchema } } },
        ...ingestErrorResponses,
      },
    }),
    async (c) => {
      const { externalId } = c.req.valid('param');
      const { resource, status } = await ingestOne(c, {
        op: 'upsert',
        type: 'event',
        externalId,
        data: c.req.valid('json'),
        ifVersion: ifMatch(c),
      });
      return c.json(resource, status);
    },
  );
  registerReadAndDelete(app, {
    type: 'event',
    plural: 'events',
    tag: 'Ingest',
    resourceSchema: eventResourceSchema,
  });
};
