import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { API_KEY_SCOPES } from '../../auth/api-key-scopes.ts';
import { createApiKey, listApiKeysPage, revokeApiKey } from '../../auth/api-keys.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { decodePageCursor, pageOf, pageQuery } from '../pagination.ts';
import { ErrorSchema as errorResponseSchema } from '../schemas.ts';

const apiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().openapi({ description: 'First characters of the key, to recognise it' }),
    scopes: z.array(z.enum(API_KEY_SCOPES)).openapi({ description: 'What the key may do (`admin`: everything)', example: ['ingest'] }),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi('ApiKey');

const errorResponses = {
  401: { description: 'Not signed in', content: { 'application/json': { schema: errorResponseSchema } } },
  403: { description: 'Not an administrator, or CSRF token missing', content: { 'application/json': { schema: errorResponseSchema } } },
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function organizationOf(c: Context<AppEnv>): string {
  const p = c.get('principal');
  if (p?.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
  return p.organizationId;
}

/**
 * `/v1/admin/api-keys`: an organization administrator lists, creates and revokes the API keys the
 * case-management app uses. A new key is shown once, in the create answer; only its hash is stored.
 */
export const apiKeyRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions), requireAdmin()], security: [{ session: [] }] };
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/api-keys',
      operationId: 'listApiKeys',
      description:
        "Organization administrators only. The organization's API keys, revoked ones included, with their prefix and scopes — never the keys themselves.",
      tags: ['Administration'],
      summary: "The organization's API keys (never the keys themselves)",
      ...auth,
      request: { query: pageQuery() },
      responses: {
        200: { description: 'A page of keys, newest first', content: { 'application/json': { schema: pageOf(apiKeySchema, 'ApiKeyPage') } } },
        400: { description: '`validation_failed`, `invalid_cursor`', content: { 'application/json': { schema: errorResponseSchema } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await listApiKeysPage(services.db, { organizationId: organizationOf(c), limit: q.limit, cursor: decodePageCursor(q.cursor) }), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/api-keys',
      operationId: 'createApiKey',
      description: 'Organization administrators only. Creates a key with the scopes given; the key is in this answer only, and only its hash is stored.',
      tags: ['Administration'],
      summary: 'Create an API key (shown once in this answer)',
      ...auth,
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z
                .object({
                  name: z.string().trim().min(1).max(100),
                  scopes: z
                    .array(z.enum(API_KEY_SCOPES))
                    .min(1)
                    .max(API_KEY_SCOPES.length)
                    .optional()
                    .openapi({ description: 'Default: `ingest` and `connections:manage`, what keys could do before scopes' }),
                })
                .openapi('ApiKeyCreate', { example: { name: 'practice app', scopes: ['ingest', 'connections:read'] } }),
            },
          },
        },
      },
      responses: {
        201: {
          description: 'Created',
          content: {
            'application/json': { schema: z.object({ id: z.uuid(), prefix: z.string(), scopes: z.array(z.enum(API_KEY_SCOPES)), apiKey: z.string() }) },
          },
        },
        400: { description: 'Invalid name', content: { 'application/json': { schema: errorResponseSchema } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const organizationId = organizationOf(c);
      const body = c.req.valid('json');
      const created = await createApiKey(services.db, { organizationId, name: body.name, ...(body.scopes ? { scopes: body.scopes } : {}) });
      services.logger.info({ organizationId, apiKeyId: created.id }, 'api key created');
      return c.json({ id: created.id, prefix: created.prefix, scopes: created.scopes, apiKey: created.apiKey }, 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/api-keys/{id}',
      operationId: 'revokeApiKey',
      description: 'Organization administrators only. Revokes a key; the next request with it answers 401 `revoked_api_key`.',
      tags: ['Administration'],
      summary: 'Revoke an API key (effective for the next request)',
      ...auth,
      request: { params: z.object({ id: z.string() }) },
      responses: {
        204: { description: 'Revoked' },
        404: { description: 'No such live key in your organization', content: { 'application/json': { schema: errorResponseSchema } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const organizationId = organizationOf(c);
      const { id } = c.req.valid('param');
      if (!UUID.test(id) || !(await revokeApiKey(services.db, { organizationId, id }))) {
        throw new ApiError(404, 'not_found', 'API key not found (or already revoked)');
      }
      services.logger.info({ organizationId, apiKeyId: id }, 'api key revoked');
      return c.body(null, 204);
    },
  );
};
