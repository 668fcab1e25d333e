import { eventResourceSchema } from '../../cases/resources.ts';
import { eventInputSchema } from '../../cases/schemas.ts';
import type { RouteModule } from '../env.ts';
import { registerJsonIngestRoutes } from './ingest-common.ts';

/** `PUT|GET|DELETE /v1/ingest/events/{externalId}`: case events (court dates, deadlines, depositions, meetings, reminders). */
export const ingestEventRoutes: RouteModule = (app) =>
  registerJsonIngestRoutes(app, {
    type: 'event',
    plural: 'events',
    summary: 'Create or update an event of a case (timed in an IANA zone, or all-day with an inclusive end date)',
    inputSchema: eventInputSchema,
    resourceSchema: eventResourceSchema,
  });
