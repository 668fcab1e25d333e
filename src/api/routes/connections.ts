import { createRoute, z } from '@hono/zod-openapi';
import type { UserPrincipal } from '../../auth/principal.ts';
import { getConnection, listConnectionsPage, updateConnectionSettings } from '../../connections/service.ts';
import type { RouteModule } from '../env.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { decodePageCursor, pageOf, pageQuery } from '../pagination.ts';
import { ConnectionEnvelopeSchema, ConnectionIdParams, ConnectionSchema, ConnectionSettingsUpdateSchema } from '../schemas/connections.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * Connections of OAuth platforms (Google Calendar first), for signed-in users:
 *
 * - `GET   /v1/connections`       own connections (`?all=true`: the organization's, admins)
 * - `GET   /v1/connections/{id}`  status, account, categories, sync counts/progress, last error
 * - `PATCH /v1/connections/{id}`  settings (reminders, drift policy, calendar name)
 *
 * Connecting (and re-authorizing) is `connection-authorization.ts`; revocation (`DELETE`) and
 * consent changes live in their own route modules.
 */
export const connectionRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };
  const principalOf = (c: { get(key: 'principal'): unknown }) => c.get('principal') as UserPrincipal;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/connections',
      operationId: 'listConnections',
      description:
        "The signed-in user's connections, newest first, paged with `cursor`; administrators pass `all=true` for the whole organization. With an API key (`connections:read`), use `/v1/users/{user}/connections`.",
      tags: ['Connections'],
      summary: 'Your connections (administrators: ?all=true for the whole organization)',
      ...auth,
      request: { query: pageQuery().extend({ all: z.enum(['true', 'false']).optional() }) },
      responses: {
        200: { description: 'A page of connections', content: { 'application/json': { schema: pageOf(ConnectionSchema, 'ConnectionPage') } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('Not signed in'),
        403: err('`admin_required` for ?all=true'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listConnectionsPage(services, {
        principal: principalOf(c),
        all: q.all === 'true',
        limit: q.limit,
        cursor: decodePageCursor(q.cursor),
      });
      return c.json(page, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/connections/{id}',
      operationId: 'getConnection',
      description:
        'One connection of the signed-in user (or of the organization for an administrator): status, account, consent, last sync, counts, progress, last error and the actions it offers.',
      tags: ['Connections'],
      summary: 'One connection: status, account, consent, last sync, counts, progress, last error and actions',
      ...auth,
      request: { params: ConnectionIdParams },
      responses: {
        200: { description: 'The connection', content: { 'application/json': { schema: ConnectionEnvelopeSchema } } },
        401: err('Not signed in'),
        404: err('No such connection (of yours, or of your organization for administrators)'),
      },
    }),
    async (c) => c.json({ connection: await getConnection(services, { principal: principalOf(c), id: c.req.valid('param').id }) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/connections/{id}',
      operationId: 'updateConnection',
      description: "Changes a connection's settings (validated by its platform) and queues a reconcile.",
      tags: ['Connections'],
      summary: 'Change settings (Google: deadlineReminders, reminderMinutes, driftPolicy, calendarName)',
      ...auth,
      request: { params: ConnectionIdParams, body: { required: true, content: { 'application/json': { schema: ConnectionSettingsUpdateSchema } } } },
      responses: {
        200: { description: 'Updated; a reconcile is queued', content: { 'application/json': { schema: ConnectionEnvelopeSchema } } },
        400: err('`validation_failed`, `invalid_settings`'),
        401: err('Not signed in'),
        403: err('`csrf_token_invalid`'),
        404: err('No such connection of yours'),
        409: err('`connection_revoked`'),
      },
    }),
    async (c) => {
      const connection = await updateConnectionSettings(services, {
        principal: principalOf(c),
        id: c.req.valid('param').id,
        settings: c.req.valid('json').settings,
      });
      return c.json({ connection }, 200);
    },
  );
};
