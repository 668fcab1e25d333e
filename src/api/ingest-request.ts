import type { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { IngestError } from '../cases/errors.ts';
import { applyIngest, type IfVersion, type IngestCommand, type ItemOutcome } from '../cases/ingest.ts';
import type { ResourceByType } from '../cases/lookup.ts';
import { type EntityType, parseIfMatch } from '../cases/schemas.ts';
import type { Services } from '../services.ts';
import type { AppEnv } from './env.ts';
import { ApiError } from './errors.ts';

/**
 * From an ingest request to `applyIngest` (src/cases/ingest.ts) and back, for the ingest routes:
 * the API key's organization, If-Match as an expected version, refusals as API errors whose details
 * point at the offending field, and one record's answer (status and ETag).
 */

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
