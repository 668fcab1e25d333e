import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { UserPrincipal } from '../../auth/principal.ts';
import { CallbackError } from '../../connections/errors.ts';
import { completeAuthorization, createConnection, reauthorizeConnection } from '../../connections/service.ts';
import { clientAddress } from '../client-address.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import {
  AuthorizationSchema,
  ConnectionCreateSchema,
  ConnectionEnvelopeSchema,
  ConnectionIdParams,
  ConnectionStartedSchema,
  OAuthCallbackQuery,
  ReconnectRequestSchema,
} from '../schemas/connections.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * Connecting an account with OAuth, for signed-in users (the rules are `src/connections/service.ts`):
 *
 * - `POST /v1/connections`                 pending connection + consent → provider authorization URL
 * - `GET  /v1/connections/oauth/callback`  the provider's redirect: finishes the connection
 * - `POST /v1/connections/{id}/reconnect`  a fresh authorization URL (pending or reauth_required)
 *
 * Reading and changing connections is `connections.ts`.
 */
export const connectionAuthorizationRoutes: RouteModule = (app, services) => {
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
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: ConnectionCreateSchema } } } },
      responses: {
        201: { description: 'Pending; send the user to authorizationUrl', content: { 'application/json': { schema: ConnectionStartedSchema } } },
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
      request: { query: OAuthCallbackQuery },
      responses: {
        200: { description: 'Connected (JSON when Accept: application/json)', content: { 'application/json': { schema: ConnectionEnvelopeSchema } } },
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
      method: 'post',
      path: '/v1/connections/{id}/reconnect',
      operationId: 'reconnectConnection',
      description: 'A fresh authorization URL, to finish a pending connection or to re-authorize one in `reauth_required`.',
      tags: ['Connections'],
      summary: 'A fresh authorization URL, to finish a pending connection or re-authorize one that needs it',
      ...auth,
      request: { params: ConnectionIdParams, body: { required: false, content: { 'application/json': { schema: ReconnectRequestSchema } } } },
      responses: {
        200: { description: 'Send the user to authorizationUrl', content: { 'application/json': { schema: AuthorizationSchema } } },
        401: err('Not signed in'),
        403: err('`csrf_token_invalid`'),
        404: err('No such connection of yours'),
        409: err('`connection_revoked`'),
      },
    }),
    async (c) => {
      const loginHint = await optionalLoginHint(c);
      const result = await reauthorizeConnection(services, { principal: principalOf(c), id: c.req.valid('param').id, loginHint });
      return c.json(result, 200);
    },
  );
};

/**
 * The reconnect body is optional and read leniently: no body, another content type or unreadable
 * JSON mean no hint; only a `loginHint` that is not a string is refused.
 */
async function optionalLoginHint(c: Context<AppEnv>): Promise<string | undefined> {
  if (!(c.req.header('content-type') ?? '').includes('application/json')) return undefined;
  const body = (await c.req.json().catch(() => ({}))) as { loginHint?: unknown };
  if (body.loginHint !== undefined && typeof body.loginHint !== 'string') throw new ApiError(400, 'validation_failed', 'loginHint must be a string');
  return body.loginHint;
}
