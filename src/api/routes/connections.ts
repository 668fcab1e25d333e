import { createRoute, z } from '@hono/zod-openapi';
import type { UserPrincipal } from '../../auth/principal.ts';
import { CallbackError } from '../../connections/errors.ts';
import {
  completeAuthorization,
  createConnection,
  createConnectionSchema,
  getConnection,
  listConnectionsPage,
  reauthorizeConnection,
  updateConnectionSettings,
} from '../../connections/service.ts';
import { clientAddress } from '../client-address.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { decodePageCursor, pageOf, pageQuery } from '../pagination.ts';
import { ConnectionSchema } from '../schemas/connections.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * Connections of OAuth platforms (Google Calendar first), for signed-in users:
 *
 * - `POST  /v1/connections`                 pending connection + consent → provider authorization URL
 * - `GET   /v1/connections/oauth/callback`  the provider's redirect: finishes the connection
 * - `GET   /v1/connections`                 own connections (`?all=true`: the organization's, admins)
 * - `GET   /v1/connections/{id}`            status, account, categories, sync counts/progress, last error
 * - `PATCH /v1/connections/{id}`            settings (reminders, drift policy, calendar name)
 * - `POST  /v1/connections/{id}/reconnect`  a fresh authorization URL (pending or reauth_required)
 *
 * Revocation (`DELETE`) and consent changes live in their own route modules.
 */

const IdParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) });

const CreateSchema = createConnectionSchema.openapi('ConnectionCreate', {
  description:
    'platform (e.g. google_calendar), consented categories, case scope, settings (Google: calendarId of an existing calendar, or calendarName of a new one; deadlineReminders; driftPolicy restore|leave)',
});

export const connectionRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };
  const principalOf = (c: { get(key: 'principal'): unknown }) => c.get('principal') as UserPrincipal;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/connections',
      operationId: 'createConnection',
      description:
        "Creates a pending connection with the user's consent (categories, case scope, attestation) and returns the provider's authorization URL to send the user to.",
      tags: ['Connections'],
      summary: 'Start connecting an account: creates a pending connection with its consent and returns the authorization URL',
      ...auth,
      middleware: [...auth.middleware, idempotency()],
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: CreateSchema } } } },
      responses: {
        201: {
          description: 'Pending; send the user to authorizationUrl',
          content: {
            'application/json': {
              schema: z.object({ connection: ConnectionSchema, authorizationUrl: z.string(), authorizationExpiresAt: z.string() }),
            },
          },
        },
        400: err(
          '`validation_failed`, `unknown_platform`, `platform_not_oauth`, `category_not_supported`, `invalid_settings`, `unknown_case`, `attestation_required`',
        ),
        401: err('Not signed in'),
        403: err('`csrf_token_invalid`, `platform_disabled`'),
      },
    }),
    async (c) => {
      const result = await createConnection(services, {
        principal: principalOf(c),
        input: c.req.valid('json'),
        consentMethod: 'api',
        ip: clientAddress(c),
        userAgent: c.req.header('user-agent') ?? null,
      });
      return c.json(result, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/connections/oauth/callback',
      operationId: 'completeConnection',
      description:
        'Where the provider sends the user back: exchanges the code, checks the granted scopes and account, and activates the connection. Answers JSON when asked for it, otherwise redirects to the app.',
      tags: ['Connections'],
      summary: 'Provider redirect after authorization: exchanges the code and activates the connection',
      ...auth,
      request: {
        query: z.object({
          state: z.string().max(512).optional(),
          code: z.string().max(4096).optional(),
          error: z.string().max(200).optional(),
          error_description: z.string().max(2000).optional(),
          scope: z.string().max(4096).optional(),
        }),
      },
      responses: {
        200: {
          description: 'Connected (JSON when Accept: application/json)',
          content: { 'application/json': { schema: z.object({ connection: ConnectionSchema }) } },
        },
        302: { description: 'Connected (or failed): back to the app with ?connected=<id> or ?connection_error=<code>' },
        400: err('`state_invalid`, `state_session_mismatch`, `authorization_denied`, `authorization_failed`'),
        401: err('Not signed in'),
        403: err('`scope_not_granted`: a permission the connection needs was unticked on the consent screen (details.retry: where to start again)'),
        409: err('`account_mismatch`, `connection_revoked`, `refresh_token_missing` (no refresh token given or reusable; details.retry asks for consent)'),
        502: err('`token_exchange_failed`'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const wantsJson = (c.req.header('accept') ?? '').includes('application/json');
      try {
        const connection = await completeAuthorization(services, { principal: principalOf(c), state: q.state, code: q.code, error: q.error });
        if (wantsJson) return c.json({ connection }, 200);
        return c.redirect(`${services.config.PUBLIC_BASE_URL}/?connected=${encodeURIComponent(connection.id)}`, 302);
      } catch (e) {
        if (wantsJson || !(e instanceof CallbackError)) throw e;
        return c.redirect(`${services.config.PUBLIC_BASE_URL}/?connection_error=${encodeURIComponent(e.code)}`, 302);
      }
    },
  );

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
      request: { params: IdParams },
      responses: {
        200: { description: 'The connection', content: { 'application/json': { schema: z.object({ connection: ConnectionSchema }) } } },
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
      request: {
        params: IdParams,
        body: { required: true, content: { 'application/json': { schema: z.object({ settings: z.record(z.string(), z.unknown()) }) } } },
      },
      responses: {
        200: { description: 'Updated; a reconcile is queued', content: { 'application/json': { schema: z.object({ connection: ConnectionSchema }) } } },
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

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/connections/{id}/reconnect',
      operationId: 'reconnectConnection',
      description: 'A fresh authorization URL, to finish a pending connection or to re-authorize one in `reauth_required`.',
      tags: ['Connections'],
      summary: 'A fresh authorization URL, to finish a pending connection or re-authorize one that needs it',
      ...auth,
      request: {
        params: IdParams,
        body: { required: false, content: { 'application/json': { schema: z.object({ loginHint: z.string().max(320).optional() }) } } },
      },
      responses: {
        200: {
          description: 'Send the user to authorizationUrl',
          content: { 'application/json': { schema: z.object({ authorizationUrl: z.string(), authorizationExpiresAt: z.string() }) } },
        },
        401: err('Not signed in'),
        403: err('`csrf_token_invalid`'),
        404: err('No such connection of yours'),
        409: err('`connection_revoked`'),
      },
    }),
    async (c) => {
      let loginHint: string | undefined;
      if ((c.req.header('content-type') ?? '').includes('application/json')) {
        const body = (await c.req.json().catch(() => ({}))) as { loginHint?: unknown };
        if (body.loginHint !== undefined && typeof body.loginHint !== 'string') throw new ApiError(400, 'validation_failed', 'loginHint must be a string');
        loginHint = body.loginHint as string | undefined;
      }
      const result = await reauthorizeConnection(services, { principal: principalOf(c), id: c.req.valid('param').id, loginHint });
      return c.json(result, 200);
    },
  );
};
