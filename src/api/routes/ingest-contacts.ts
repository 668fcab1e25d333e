import { createRoute } from '@hono/zod-openapi';
import { contactResourceSchema } from '../../cases/resources.ts';
import { contactInputSchema } from '../../cases/schemas.ts';
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

/** `PUT|GET|DELETE /v1/ingest/contacts/{externalId}`: case contacts (clients, opposing counsel, witnesses, adjusters). */
export const ingestContactRoutes: RouteModule = (app) => {
  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/ingest/contacts/{externalId}',
      tags: ['Ingest'],
      summary: 'Create or update a contact (optionally tied to a case by caseExternalId)',
      ...ingestAuth,
      request: {
        params: externalIdParams,
        headers: ifMatchHeaders,
        body: { required: true, content: { 'application/json': { schema: contactInputSchema } } },
      },
      responses: {
        200: { description: 'Updated or unchanged', content: { 'application/json': { schema: contactResourceSchema } } },
        201: { description: 'Created', content: { 'application/json': { schema: contactResourceSchema } } },
        ...ingestErrorResponses,
      },
    }),
    async (c) => {
      const { externalId } = c.req.valid('param');
      const { resource, status } = await ingestOne(c, {
        op: 'upsert',
        type: 'contact',
        externalId,
        data: c.req.valid('json'),
        ifVersion: ifMatch(c),
      });
      return c.json(resource, status);
    },
  );
  registerReadAndDelete(app, {
    type: 'contact',
    plural: 'contacts',
    tag: 'Ingest',
    resourceSchema: contactResourceSchema,
  });
};
