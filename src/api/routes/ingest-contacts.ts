import { contactResourceSchema } from '../../cases/resources.ts';
import { contactInputSchema } from '../../cases/schemas.ts';
import type { RouteModule } from '../env.ts';
import { registerJsonIngestRoutes } from './ingest-common.ts';

/** `PUT|GET|DELETE /v1/ingest/contacts/{externalId}`: case contacts (clients, opposing counsel, witnesses, adjusters). */
export const ingestContactRoutes: RouteModule = (app) =>
  registerJsonIngestRoutes(app, {
    type: 'contact',
    plural: 'contacts',
    summary: 'Create or update a contact (optionally tied to a case by caseExternalId)',
    inputSchema: contactInputSchema,
    resourceSchema: contactResourceSchema,
  });
