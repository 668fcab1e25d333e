import { createRoute, type z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { IngestCommand } from '../../cases/ingest.ts';
import { findByExternalId } from '../../cases/lookup.ts';
import type { EntityType } from '../../cases/schemas.ts';
import type { App, AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { ifMatch, ingestOne, organizationOf } from '../ingest-request.ts';
import { apiKeyAuth } from '../middleware/api-key-auth.ts';
import { externalIdParams, ifMatchHeaders, ingestErrorResponses } from '../schemas/ingest.ts';

/**
 * The routes every ingest record type shares (`ingest-cases.ts`, `ingest-events.ts`, …): the API
 * key, and the PUT/GET/DELETE of one record by its external id. Not a route module itself; the
 * request helpers are `src/api/ingest-request.ts`, the shared schemas `src/api/schemas/ingest.ts`.
 */

/** Route pieces shared by every ingest route: the API key and its OpenAPI security entry. */
export const ingestAuth: { middleware: MiddlewareHandler<AppEnv>[]; security: Array<Record<string, string[]>> } = {
  middleware: [apiKeyAuth({ scope: 'ingest' })],
  security: [{ apiKey: [] }],
};

const label: Record<EntityType, string> = { case: 'case', event: 'event', document: 'document', contact: 'contact' };

/** `case` → `Case`, for operation ids (`putCase`, `getIngestedCase`, `deleteCase`). */
export const operationNoun = (type: EntityType): string => `${type[0]!.toUpperCase()}${type.slice(1)}`;

/**
 * Registers `PUT|GET|DELETE /v1/ingest/<plural>/{externalId}` for a record type sent as JSON (cases,
 * events, contacts; documents also take multipart, see ingest-documents.ts): the PUT validates the
 * body with `inputSchema`, honours `If-Match`, and answers 201 when created, 200 when updated or
 * unchanged.
 */
export function registerJsonIngestRoutes(
  app: App,
  params: {
    type: 'case' | 'event' | 'contact';
    plural: string;
    summary: string;
    inputSchema: z.ZodType;
    resourceSchema: z.ZodType;
    cascadeNote?: string;
  },
): void {
  const { type, plural, resourceSchema } = params;
  app.openapi(
    createRoute({
      method: 'put',
      path: `/v1/ingest/${plural}/{externalId}`,
      operationId: `put${operationNoun(type)}`,
      tags: ['Ingest'],
      summary: params.summary,
      description: `API key with the \`ingest\` scope. Creates or updates the ${label[type]} with this external id; \`If-Match: "<version>"\` makes the write conditional (412 on a mismatch).`,
      ...ingestAuth,
      request: {
        params: externalIdParams,
        headers: ifMatchHeaders,
        body: { required: true, content: { 'application/json': { schema: params.inputSchema } } },
      },
      responses: {
        200: { description: 'Updated or unchanged', content: { 'application/json': { schema: resourceSchema } } },
        201: { description: 'Created', content: { 'application/json': { schema: resourceSchema } } },
        ...ingestErrorResponses,
      },
    }),
    async (c) => {
      const { externalId } = c.req.valid('param');
      // The schema above produced the data of this type (the map from type to schema is the caller's).
      const command = { op: 'upsert', type, externalId, data: c.req.valid('json'), ifVersion: ifMatch(c) } as IngestCommand & { type: typeof type };
      const { resource, status } = await ingestOne(c, command);
      return c.json(resource, status);
    },
  );
  registerReadAndDelete(app, { type, plural, tag: 'Ingest', resourceSchema, ...(params.cascadeNote ? { cascadeNote: params.cascadeNote } : {}) });
}

/**
 * Registers `GET` and `DELETE /v1/ingest/<plural>/{externalId}` for one record type. GET shows
 * tombstones too (`deleted: true`); DELETE is idempotent (a second delete changes nothing).
 */
export function registerReadAndDelete(
  app: App,
  params: { type: EntityType; plural: string; tag: string; resourceSchema: z.ZodType; cascadeNote?: string },
): void {
  const { type, plural, tag, resourceSchema } = params;
  const path = `/v1/ingest/${plural}/{externalId}`;
  app.openapi(
    createRoute({
      method: 'get',
      path,
      operationId: `getIngested${operationNoun(type)}`,
      tags: [tag],
      summary: `Read a ${label[type]} by its external id (tombstones included)`,
      description: `API key with the \`ingest\` scope. The ${label[type]} as stored, with its version (also as ETag); a deleted one shows \`deleted: true\`.`,
      ...ingestAuth,
      request: { params: externalIdParams },
      responses: {
        200: { description: `The ${label[type]}`, content: { 'application/json': { schema: resourceSchema } } },
        401: ingestErrorResponses[401],
        404: ingestErrorResponses[404],
      },
    }),
    async (c) => {
      const { externalId } = c.req.valid('param');
      const resource = await findByExternalId(c.get('services').db, { organizationId: organizationOf(c), type, externalId });
      if (!resource) throw new ApiError(404, 'not_found', `${label[type]} "${externalId}" not found`);
      c.header('etag', `"${resource.version}"`);
      return c.json(resource, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path,
      operationId: `delete${operationNoun(type)}`,
      tags: [tag],
      summary: `Delete a ${label[type]} (leaves a tombstone, version + 1)`,
      description: `API key with the \`ingest\` scope. Deleting twice changes nothing.${params.cascadeNote ? ` ${params.cascadeNote}` : ''}`,
      ...ingestAuth,
      request: { params: externalIdParams, headers: ifMatchHeaders },
      responses: {
        200: { description: `The ${label[type]}'s tombstone`, content: { 'application/json': { schema: resourceSchema } } },
        ...ingestErrorResponses,
      },
    }),
    async (c) => {
      const { externalId } = c.req.valid('param');
      const { resource } = await ingestOne(c, { op: 'delete', type, externalId, ifVersion: ifMatch(c) });
      return c.json(resource, 200);
    },
  );
}
