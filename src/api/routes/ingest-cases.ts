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
    cascadeNote:
      'Also tombstones the case’s events, documents and contacts, in the same transaction: a child write racing the delete ' +
      'either lands first and is tombstoned with the case, or is refused with 409 `case_deleted`. Upserting the case again ' +
      'revives only the case; its children stay deleted until each one is sent again.',
  });
