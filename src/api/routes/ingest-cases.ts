import { caseResourceSchema } from '../../cases/resources.ts';
import { caseInputSchema } from '../../cases/schemas.ts';
import type { RouteModule } from '../env.ts';
import { registerJsonIngestRoutes } from './ingest-common.ts';

/** `PUT|GET|DELETE /v1/ingest/cases/{externalId}`: cases pushed by the case-management app. */
export const ingestCaseRoutes: RouteModule = (app) =>
  registerJsonIngestRoutes(app, {
    type: 'case',
    plural: 'cases',
    summary: 'Create or update a case (idempotent: the same content twice keeps the version)',
    inputSchema: caseInputSchema,
    resourceSchema: caseResourceSchema,
    cascadeNote: 'Also tombstones the case’s events, documents and contacts. Upserting the case again revives only the case.',
  });
