import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { UserPrincipal } from '../../auth/principal.ts';
import { organizationUserAsPrincipal } from '../../auth/users.ts';
import { getConnection, listConnectionsPage } from '../../connections/service.ts';
import { CONSENT_CURSOR, consentHistory } from '../../consent/service.ts';
import { decodeCursor, listTransfers, transferView } from '../../transfers/queries.ts';
import { consentView } from '../consent-view.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { apiKeyAuth } from '../middleware/api-key-auth.ts';
import { decodeListCursor, decodePageCursor, pageOf, pageQuery } from '../pagination.ts';
import { ConnectionSchema } from '../schemas/connections.ts';
import { ConsentPageSchema } from '../schemas/consents.ts';
import { TransferSchema } from '../schemas/transfers.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * For the platform's backend, with an API key: one user's connections, consents and transfers, so
 * the case-management app can show them without a user cookie. `{user}` is the user's id or e-mail
 * address in the key's organization; another organization's user answers 404 like an unknown one.
 * Read-only, and exactly what the user would see of their own.
 */

const UserParams = z.object({
  user: z.string().min(1).max(320).openapi({ description: "The user's id or e-mail address", example: 'alice@example.org' }),
});

const errors = {
  400: err('`validation_failed`, `invalid_cursor`'),
  401: err('`missing_api_key`, `invalid_api_key`, `revoked_api_key`'),
  403: err('`insufficient_scope`'),
  404: err('`user_not_found`, `not_found`'),
  429: err('`rate_limited` (see `Retry-After`)'),
};

async function userOf(c: Context<AppEnv>, user: string): Promise<UserPrincipal> {
  const p = c.get('principal');
  if (p.kind !== 'api_key') throw new ApiError(401, 'missing_api_key', 'send the API key');
  const principal = await organizationUserAsPrincipal(c.get('services').db, { organizationId: p.organizationId, user });
  if (!principal) throw new ApiError(404, 'user_not_found', 'no active user of your organization has this id or e-mail address');
  return principal;
}

export const platformUserRoutes: RouteModule = (app, services) => {
  const read = (scope: 'connections:read' | 'transfers:read') => ({ middleware: [apiKeyAuth({ scope })], security: [{ apiKey: [] }] });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/{user}/connections',
      operationId: 'listUserConnections',
      tags: ['Platform backend'],
      summary: "A user's connections (API key with `connections:read`)",
      description: "The user's connections, newest first, paged with `cursor`: status, account, consent, last sync, counts, progress and last error.",
      ...read('connections:read'),
      request: { params: UserParams, query: pageQuery() },
      responses: {
        200: { description: 'A page of connections', content: { 'application/json': { schema: pageOf(ConnectionSchema, 'ConnectionPage') } } },
        ...errors,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const principal = await userOf(c, c.req.valid('param').user);
      return c.json(await listConnectionsPage(services, { principal, all: false, limit: q.limit, cursor: decodePageCursor(q.cursor) }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/{user}/connections/{id}/consents',
      operationId: 'listUserConsents',
      tags: ['Platform backend'],
      summary: "Every consent version of one of a user's connections (API key with `connections:read`)",
      description: 'Newest version first, paged with `cursor`.',
      ...read('connections:read'),
      request: { params: UserParams.extend({ id: z.uuid() }), query: pageQuery() },
      responses: { 200: { description: 'A page of consent versions', content: { 'application/json': { schema: ConsentPageSchema } } }, ...errors },
    }),
    async (c) => {
      const { user, id } = c.req.valid('param');
      const q = c.req.valid('query');
      const cursor = decodeListCursor(q.cursor, CONSENT_CURSOR);
      const connection = await getConnection(services, { principal: await userOf(c, user), id });
      const page = await consentHistory(services.db, connection.id, { limit: q.limit, cursor });
      return c.json({ items: page.items.map(consentView), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/{user}/transfers',
      operationId: 'listUserTransfers',
      tags: ['Platform backend'],
      summary: "Transfer-log rows of a user's connections (API key with `transfers:read`)",
      description: 'Newest first, paged with `cursor`: what left for, or came from, the platforms the user connected.',
      ...read('transfers:read'),
      request: { params: UserParams, query: pageQuery({ maxLimit: 500 }) },
      responses: {
        200: { description: 'A page of transfers', content: { 'application/json': { schema: pageOf(TransferSchema, 'TransferPage') } } },
        ...errors,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const principal = await userOf(c, c.req.valid('param').user);
      const beforeSeq = q.cursor ? decodeCursor(q.cursor) : null;
      if (q.cursor && beforeSeq === null) throw new ApiError(400, 'invalid_cursor', 'the cursor is not one this API returned');
      const page = await listTransfers(services.db, {
        scope: { organizationId: principal.organizationId, userId: principal.userId },
        filters: {},
        limit: q.limit,
        beforeSeq,
      });
      return c.json({ items: page.items.map(transferView), nextCursor: page.nextCursor }, 200);
    },
  );
};
