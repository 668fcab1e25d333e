import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { nextTimeIdCursor, type TimeIdCursor, timeIdKeyset } from '../db/page-cursor.ts';
import { AuthError } from '../errors/index.ts';
import { type ApiKeyScope, DEFAULT_API_KEY_SCOPES } from './api-key-scopes.ts';

const KEY_PREFIX = 'cbk_';

/** SHA-256 is enough for 256-bit random keys (no dictionary to attack); it keeps lookups O(1). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Creates an API key for an organization. The plain key is returned once and never stored. */
export async function createApiKey(
  db: Db,
  params: { organizationId: string; name: string; scopes?: readonly ApiKeyScope[] },
): Promise<{ id: string; apiKey: string; prefix: string; scopes: ApiKeyScope[] }> {
  const scopes = [...new Set(params.scopes?.length ? params.scopes : DEFAULT_API_KEY_SCOPES)];
  const apiKey = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const prefix = apiKey.slice(0, 12);
  const row = await db
    .insertInto('api_keys')
    .values({ organization_id: params.organizationId, name: params.name, prefix, key_hash: hashApiKey(apiKey), scopes })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, apiKey, prefix, scopes };
}

/** An API key as listed to administrators (never the key itself, only its prefix). */
export interface ApiKeySummary {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The organization's keys, revoked ones included, newest or oldest first. */
export async function listApiKeys(db: Db, params: { organizationId: string; order: 'newest' | 'oldest' }): Promise<ApiKeySummary[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(['id', 'name', 'prefix', 'scopes', 'created_at', 'last_used_at', 'revoked_at'])
    .where('organization_id', '=', params.organizationId)
    .orderBy('created_at', params.order === 'newest' ? 'desc' : 'asc')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes as ApiKeyScope[],
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  }));
}

/** A page of the organization's keys, newest first (the API's list). */
export async function listApiKeysPage(
  db: Db,
  params: { organizationId: string; limit: number; cursor: TimeIdCursor | null },
): Promise<{ items: ApiKeySummary[]; nextCursor: string | null }> {
  const keyset = timeIdKeyset('api_keys');
  let q = db
    .selectFrom('api_keys')
    .select(['id', 'name', 'prefix', 'scopes', 'created_at', 'last_used_at', 'revoked_at'])
    .where('organization_id', '=', params.organizationId);
  if (params.cursor) q = q.where(keyset.after(params.cursor));
  const rows = await q
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(params.limit + 1)
    .execute();
  return { items: rows.slice(0, params.limit).map(summary), nextCursor: nextTimeIdCursor(rows, params.limit) };
}

function summary(r: {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}): ApiKeySummary {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes as ApiKeyScope[],
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  };
}

/** Revokes a key; returns false when no such live key exists in the organization. */
export async function revokeApiKey(db: Db, params: { organizationId: string; id: string }): Promise<boolean> {
  const res = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('id', '=', params.id)
    .where('organization_id', '=', params.organizationId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** A live API key, as authentication finds it. */
export interface AuthenticatedApiKey {
  id: string;
  organizationId: string;
  scopes: ApiKeyScope[];
}

/**
 * Finds the live key of `Authorization: Bearer <key>` (the header's value); throws `missing_api_key`,
 * `invalid_api_key` or `revoked_api_key`. Records its last use at most once a minute, so a busy key
 * does not write on every request.
 */
export async function authenticateApiKey(db: Db, authorization: string | undefined): Promise<AuthenticatedApiKey> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) throw new AuthError('missing_api_key', 'send the API key as "Authorization: Bearer <key>"');
  const key = match[1]!;
  if (!key.startsWith(KEY_PREFIX)) throw new AuthError('invalid_api_key', 'the API key is not valid');
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'organization_id', 'scopes', 'revoked_at', 'last_used_at'])
    .where('key_hash', '=', hashApiKey(key))
    .executeTakeFirst();
  if (!row) throw new AuthError('invalid_api_key', 'the API key is not valid');
  if (row.revoked_at) throw new AuthError('revoked_api_key', 'the API key has been revoked');
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    await db.updateTable('api_keys').set({ last_used_at: sql`now()` }).where('id', '=', row.id).execute();
  }
  return { id: row.id, organizationId: row.organization_id, scopes: row.scopes as ApiKeyScope[] };
}
