import { createHash, randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { sql } from 'kysely';
import type { AppEnv } from '../api/env.ts';
import type { Db } from '../db/database.ts';
import { AuthError } from '../errors/index.ts';

const KEY_PREFIX = 'cbk_';

/** SHA-256 is enough for 256-bit random keys (no dictionary to attack); it keeps lookups O(1). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Creates an API key for an organization. The plain key is returned once and never stored. */
export async function createApiKey(db: Db, params: { organizationId: string; name: string }): Promise<{ id: string; apiKey: string; prefix: string }> {
  const apiKey = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const prefix = apiKey.slice(0, 12);
  const row = await db
    .insertInto('api_keys')
    .values({ organization_id: params.organizationId, name: params.name, prefix, key_hash: hashApiKey(apiKey) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, apiKey, prefix };
}

/** An API key as listed to administrators (never the key itself, only its prefix). */
export interface ApiKeySummary {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The organization's keys, revoked ones included, newest or oldest first. */
export async function listApiKeys(db: Db, params: { organizationId: string; order: 'newest' | 'oldest' }): Promise<ApiKeySummary[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(['id', 'name', 'prefix', 'created_at', 'last_used_at', 'revoked_at'])
    .where('organization_id', '=', params.organizationId)
    .orderBy('created_at', params.order === 'newest' ? 'desc' : 'asc')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  }));
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

/**
 * Authenticates the case-management app by `Authorization: Bearer <api key>` and sets an
 * `api_key` principal scoped to the key's organization.
 */
export function apiKeyAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new AuthError('missing_api_key', 'send the API key as "Authorization: Bearer <key>"');
    const key = match[1]!;
    if (!key.startsWith(KEY_PREFIX)) throw new AuthError('invalid_api_key', 'the API key is not valid');
    const { db } = c.get('services');
    const row = await db
      .selectFrom('api_keys')
      .select(['id', 'organization_id', 'revoked_at', 'last_used_at'])
      .where('key_hash', '=', hashApiKey(key))
      .executeTakeFirst();
    if (!row) throw new AuthError('invalid_api_key', 'the API key is not valid');
    if (row.revoked_at) throw new AuthError('revoked_api_key', 'the API key has been revoked');
    // Record last use at most once a minute, so a busy key does not write on every request.
    if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
      await db.updateTable('api_keys').set({ last_used_at: sql`now()` }).where('id', '=', row.id).execute();
    }
    c.set('principal', { kind: 'api_key', organizationId: row.organization_id, apiKeyId: row.id });
    await next();
  };
}
