import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { IngestError } from '../../cases/errors.ts';
import { applyIngest, type IfVersion, type IngestCommand, type ItemOutcome } from '../../cases/ingest.ts';
import { findByExternalId, type ResourceByType } from '../../cases/lookup.ts';
import { type EntityType, externalIdSchema, parseIfMatch } from '../../cases/schemas.ts';
import type { Services } from '../../services.ts';
import type { App, AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { apiKeyAuth } from '../middleware/api-key-auth.ts';
import { ErrorSchema } from '../schemas.ts';

/**
 * Shared pieces of the ingest routes (`ingest-cases.ts`, `ingest-events.ts`, …): API-key
 * authentication, If-Match, error mapping, and the GET/DELETE pair every record type has.
 * Not a route module itself.
 */

/** The shared error envelope (src/api/schemas.ts), under the name connector routes import. */
export const errorResponseSchema = ErrorSchema;

const errorContent = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorResponseSchema } },
});

/** Error responses every ingest route can give (for the OpenAPI document). */
export const ingestErrorResponses = {
  400: errorContent('Validation failed; `details` lists each field. `unknown_case`: `caseExternalId` names no case'),
  401: errorContent('Missing (`missing_api_key`), unknown (`invalid_api_key`) or revoked (`revoked_api_key`) API key'),
  404: errorContent('No such record in the key’s organization'),
  409: errorContent(
    '`version_conflict`: If-Match names another version; `details.currentVersion` has the current one. ' +
      '`case_deleted`: `caseExternalId` names a deleted case (send the case again to revive it; its old children stay deleted)',
  ),
  413: errorContent('Body larger than BODY_LIMIT_BYTES'),
};

export const externalIdParams = z.object({ externalId: externalIdSchema });

export const ifMatchHeaders = z.object({
  'if-match': z.string().optional().openapi({ description: 'Expected current version: `3`, `"3"` or `*` (must exist). A mismatch answers 409.' }),
});

/** Route pieces shared by every ingest route: the API key and its OpenAPI security entry. */
export const ingestAuth: { middleware: MiddlewareHandler<AppEnv>[]; security: Array<Record<string, string[]>> } = {
  middleware: [apiKeyAuth({ scope: 'ingest' })],
  security: [{ apiKey: [] }],
};

/** One `{ path, message }` per offending field (the same shape the app's validation hook answers with). */
export function zodFieldErrors(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}

/** The If-Match header as an expected version; 400 when it cannot be a version. */
export function ifMatch(c: Context<AppEnv>): IfVersion | undefined {
  const parsed = parseIfMatch(c.req.header('if-match'));
  if (parsed === null) {
    throw new ApiError(400, 'invalid_if_match', 'If-Match must be a version number such as 3 or "3", or *', [
      { path: 'If-Match', message: 'expected a positive integer version, optionally quoted, or *' },
    ]);
  }
  return parsed;
}

/** The API key's organization (apiKeyAuth ran before). */
export function organizationOf(c: Context<AppEnv>): string {
  const p = c.get('principal');
  if (p?.kind !== 'api_key') throw new ApiError(401, 'missing_api_key', 'send the API key as "Authorization: Bearer <key>"');
  return p.organizationId;
}

/**
 * Turns a refused ingest into an API error whose details point at the offending field: `items.3.data.caseExternalId`
 * in a bulk, `caseExternalId` for a single record.
 */
export function ingestApiError(err: IngestError, bulk: boolean): ApiError {
  const at = (index: number, field?: string) =>
    [bulk ? `items.${index}` : '', field ? (bulk ? `data.${field}` : field) : ''].filter(Boolean).join('.') || '(body)';
  if (err.code === 'version_conflict') {
    const details = bulk
      ? err.items.map((p) => ({ index: p.index, path: at(p.index), externalId: p.externalId, currentVersion: p.currentVersion, message: p.message }))
      : { currentVersion: err.items[0]?.currentVersion ?? null };
    return new ApiError(409, 'version_conflict', err.items[0] && !bulk ? err.items[0].message : err.message, details);
  }
  const details = err.items.map((p) => ({
    ...(bulk ? { index: p.index, externalId: p.externalId } : {}),
    // A duplicate is the item's externalId itself (only a bulk can name a record twice).
    path: err.code === 'duplicate_item' ? `items.${p.index}.externalId` : at(p.index, p.field),
    message: p.message,
  }));
  // A deleted case is the record's state, not a malformed request: 409, like a version conflict.
  return new ApiError(err.code === 'case_deleted' ? 409 : 400, err.code, err.message, details);
}

/** Runs ingest commands and maps refusals to API errors. */
export async function ingest(services: Services, params: { organizationId: string; commands: IngestCommand[]; bulk: boolean; readBack?: boolean }) {
  try {
    return await applyIngest(services, {
      organizationId: params.organizationId,
      commands: params.commands,
      ...(params.readBack ? { readBack: true } : {}),
    });
  } catch (err) {
    if (err instanceof IngestError) throw ingestApiError(err, params.bulk);
    throw err;
  }
}

/**
 * Applies one command and answers with the record as this request left it (201 when this request
 * created it): body, version and ETag are read inside the write's own transaction, never after it,
 * so a concurrent write of the same record cannot show through.
 */
export async function ingestOne<T extends EntityType>(
  c: Context<AppEnv>,
  command: IngestCommand & { type: T },
): Promise<{ resource: ResourceByType[T]; status: 200 | 201; outcome: ItemOutcome }> {
  const services = c.get('services');
  const organizationId = organizationOf(c);
  const { outcomes, records } = await ingest(services, { organizationId, commands: [command], bulk: false, readBack: true });
  const outcome = outcomes[0] as ItemOutcome;
  if (outcome.status === 'not_found') throw new ApiError(404, 'not_found', `${command.type} "${command.externalId}" not found`);
  // The record of this command's type (records are read by the command's own type).
  const resource = records?.[0] as ResourceByType[T] | null | undefined;
  if (!resource) throw new ApiError(404, 'not_found', `${command.type} "${command.externalId}" not found`);
  c.header('etag', `"${resource.version}"`);
  return { resource, status: outcome.status === 'created' ? (201 as const) : (200 as const), outcome };
}

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
