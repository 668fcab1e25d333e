import { createRoute } from '@hono/zod-openapi';
import { caseResourceSchema } from '../../cases/resources.ts';
import { caseInputSchema } from '../../cases/schemas.ts';
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

/** `PUT|GET|DELETE /v1/ingest/cases/{externalId}`: cases pushed by the case-management app. */
export const ingestCaseRoutes: RouteModule = (app) => {
  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/ingest/cases/{externalId}',
      tags: ['Ingest'],
      summary: 'Create or update a case (idempotent: the same content twice keeps the version)',
      ...ingestAuth,
      request: {
        params: externalIdParams,
        headers: ifMatchHeaders,
        body: { required: true, content: { 'application/json': { schema: caseInputSchema } } },
      },
      responses: {
        200: { description: 'Updated or unchanged', content: { 'application/json': { schema: caseResourceSchema } } },
        201: { description: 'Created', content: { 'application/json': { schema: caseResourceSchema } } },
        ...ingestErrorResponses,
      },
    }),
    async (c) => {
      const { externalId } = c.req.valid('param');
      const { resource, status } = await ingestOne(c, {
        op: 'upsert',
        type: 'case',
        externalId,
        data: c.req.valid('json'),
        ifVersion: ifMatch(c),
      });
      return c.json(resource, status);
    },
  );
  registerReadAndDelete(app, {
    type: 'case',
    plural: 'cases',
    tag: 'Ingest',
    resourceSchema: caseResourceSchema,
    cascadeNote: 'Also tombstones the case’s events, documents and contacts. Upserting the case again revives only the case.',
  });
};
