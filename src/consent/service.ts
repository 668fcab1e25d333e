import { sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import { type KeysetCursor, type KeysetSpec, keysetSql, nextKeysetCursor, UUID_KEY } from '../db/page-cursor.ts';
import type { CaseScope, ConsentsTable } from '../db/types.ts';
import { CasebridgeError } from '../errors/index.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { redisKey } from '../redis.ts';
import { isEmptyCaseScope, normaliseCaseScope } from './case-scope.ts';
import { CATEGORIES, type CategoryId } from './categories.ts';

/** A consent record as the rest of the code sees it. */
export interface Consent {
  id: string;
  connectionId: string;
  organizationId: string;
  version: number;
  grantedBy: string;
  categories: CategoryId[];
  caseScope: CaseScope;
  policyVersion: string;
  method: 'api' | 'consent_screen';
  ip: string | null;
  userAgent: string | null;
  attestations: Record<string, string>;
  grantedAt: Date;
  withdrawnAt: Date | null;
  withdrawnBy: string | null;
}

/** The consent policy text version shown to users; bump when the consent screen wording changes. */
export const CURRENT_POLICY_VERSION = '2026-11-01';

/** A consent that cannot be granted as asked; the code is stable, src/api picks the status. */
export class ConsentError extends CasebridgeError {
  constructor(
    override readonly code:
      | 'attestation_required'
      | 'no_categories'
      | 'empty_case_scope'
      | 'category_not_supported'
      | 'unknown_case'
      | 'policy_version_outdated'
      | 'connection_revoked',
    message: string,
    details?: unknown,
  ) {
    super(code, message, details);
  }
}

type ConsentRow = {
  [K in keyof ConsentsTable]: ConsentsTable[K] extends { __select__: infer S } ? S : ConsentsTable[K];
};

export function toConsent(row: ConsentRow): Consent {
  return {
    id: row.id,
    connectionId: row.connection_id,
    organizationId: row.organization_id,
    version: row.version,
    grantedBy: row.granted_by,
    categories: row.categories as CategoryId[],
    caseScope: row.case_scope,
    policyVersion: row.policy_version,
    method: row.method,
    ip: row.ip,
    userAgent: row.user_agent,
    attestations: row.attestations,
    grantedAt: row.granted_at,
    withdrawnAt: row.withdrawn_at,
    withdrawnBy: row.withdrawn_by,
  };
}

/** Redis key of a connection's revocation epoch; bumped on every withdrawal or revocation. */
export function revocationEpochKey(prefix: string, connectionId: string): string {
  return redisKey(prefix, 'epoch', connectionId);
}

/** Bumps the revocation epoch so every gate (any process) reloads consent at its next call. */
export async function bumpRevocationEpoch(redis: Redis, prefix: string, connectionIds: string[]): Promise<void> {
  if (!connectionIds.length) return;
  const multi = redis.multi();
  for (const id of connectionIds) multi.incr(revocationEpochKey(prefix, id));
  await multi.exec();
}

/**
 * Grants a new consent version for a connection (the previous version, if any, stays as history;
 * it is marked withdrawn-by-supersession so exactly one version is current). Checks attestations.
 */
export async function grantConsent(
  db: Db | Tx,
  params: {
    connectionId: string;
    organizationId: string;
    grantedBy: string;
    categories: CategoryId[];
    caseScope: CaseScope;
    method: 'api' | 'consent_screen';
    ip?: string | null;
    userAgent?: string | null;
    attestations?: Record<string, string>;
    policyVersion?: string;
  },
): Promise<Consent> {
  const categories = [...new Set(params.categories)];
  if (!categories.length) throw new ConsentError('no_categories', 'choose at least one data category');
  if (isEmptyCaseScope(params.caseScope)) {
    throw new ConsentError('empty_case_scope', 'a case scope of kind "cases" needs at least one case id, of kind "practice_areas" at least one practice area');
  }
  const attestations = params.attestations ?? {};
  const missing = categories.filter((c) => CATEGORIES[c].attestation && attestations[c] !== CATEGORIES[c].attestation);
  if (missing.length) {
    throw new ConsentError(
      'attestation_required',
      `these categories need the attestation text, word for word: ${missing.map((c) => `${c}: "${CATEGORIES[c].attestation}"`).join('; ')}`,
      { categories: missing },
    );
  }
  const run = async (tx: Db | Tx) => {
    const prev = await tx
      .selectFrom('consents')
      .select(['version'])
      .where('connection_id', '=', params.connectionId)
      .orderBy('version', 'desc')
      .limit(1)
      .forUpdate()
      .executeTakeFirst();
    const now = new Date();
    await tx
      .updateTable('consents')
      .set({ withdrawn_at: now, withdrawn_by: 'superseded' })
      .where('connection_id', '=', params.connectionId)
      .where('withdrawn_at', 'is', null)
      .execute();
    const row = await tx
      .insertInto('consents')
      .values({
        connection_id: params.connectionId,
        organization_id: params.organizationId,
        version: (prev?.version ?? 0) + 1,
        granted_by: params.grantedBy,
        categories: JSON.stringify(categories),
        case_scope: JSON.stringify(params.caseScope.kind === 'practice_areas' ? normaliseCaseScope(params.caseScope) : params.caseScope),
        policy_version: params.policyVersion ?? CURRENT_POLICY_VERSION,
        method: params.method,
        ip: params.ip ?? null,
        user_agent: params.userAgent ?? null,
        attestations: JSON.stringify(attestations),
        granted_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toConsent(row);
  };
  return 'isTransaction' in db && db.isTransaction ? run(db) : (db as Db).transaction().execute(run);
}

/** The current (not withdrawn) consent of a connection, or null. */
export async function currentConsent(db: Db | Tx, connectionId: string): Promise<Consent | null> {
  const row = await db
    .selectFrom('consents')
    .selectAll()
    .where('connection_id', '=', connectionId)
    .where('withdrawn_at', 'is', null)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? toConsent(row) : null;
}

/**
 * Withdraws the current consent of the given connections and bumps their revocation epochs, so the
 * withdrawal is effective in every process before this returns. Returns the ids actually withdrawn.
 */
export async function withdrawConsents(
  services: { db: Db; redis: Redis; config: { REDIS_PREFIX: string } },
  params: { connectionIds: string[]; actor: string },
): Promise<string[]> {
  if (!params.connectionIds.length) return [];
  const rows = await services.db
    .updateTable('consents')
    .set({ withdrawn_at: new Date(), withdrawn_by: params.actor })
    .where('connection_id', 'in', params.connectionIds)
    .where('withdrawn_at', 'is', null)
    .returning('id')
    .execute();
  await bumpRevocationEpoch(services.redis, services.config.REDIS_PREFIX, params.connectionIds);
  return rows.map((r) => r.id);
}

/** The cursor of a connection's consent history: the version (unique per connection), then the id. */
export const CONSENT_CURSOR: KeysetSpec<'int'> = { sort: 'int', key: UUID_KEY };

/** A page of a connection's consent versions, newest first, after `cursor`. */
export async function consentHistory(
  db: Db | Tx,
  connectionId: string,
  page: { limit: number; cursor: KeysetCursor<number> | null },
): Promise<{ items: Consent[]; nextCursor: string | null }> {
  const keyset = keysetSql({ sort: sql.ref('consents.version'), key: sql.ref('consents.id'), sortType: 'integer', keyType: 'uuid', direction: 'desc' });
  let q = db
    .selectFrom('consents')
    .selectAll()
    .where('connection_id', '=', connectionId)
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(page.limit + 1);
  if (page.cursor) q = q.where(keyset.after(page.cursor));
  const rows = await q.execute();
  return { items: rows.slice(0, page.limit).map(toConsent), nextCursor: nextKeysetCursor(rows, page.limit, (r) => ({ sort: r.version, key: r.id })) };
}

/** One consent version of a connection, or null. */
export async function consentVersion(db: Db | Tx, connectionId: string, version: number): Promise<Consent | null> {
  const row = await db.selectFrom('consents').selectAll().where('connection_id', '=', connectionId).where('version', '=', version).executeTakeFirst();
  return row ? toConsent(row) : null;
}

/**
 * Grants a new consent version and bumps the connection's revocation epoch, so every process's gate
 * reloads at its next call (a narrower consent takes effect at once, not when a cache expires).
 */
export async function grantConsentAndPublish(
  services: { db: Db; redis: Redis; config: { REDIS_PREFIX: string } },
  params: Parameters<typeof grantConsent>[1],
): Promise<Consent> {
  const consent = await grantConsent(services.db, params);
  await bumpRevocationEpoch(services.redis, services.config.REDIS_PREFIX, [params.connectionId]);
  return consent;
}
