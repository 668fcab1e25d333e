import { sql } from 'kysely';
import { normaliseCaseScope } from '../../src/consent/case-scope.ts';
import type { CategoryId } from '../../src/consent/categories.ts';
import { grantConsent } from '../../src/consent/service.ts';
import type { Db } from '../../src/db/database.ts';
import { nextTimeIdCursor, type TimeIdCursor, timeIdKeyset } from '../../src/db/page-cursor.ts';
import type { CaseScope, ConnectionStatus } from '../../src/db/types.ts';
import { requestRevocation } from '../../src/revocation/service.ts';
import type { Services } from '../../src/services.ts';
import { emitConnectionCreated } from '../../src/webhooks/connection-events.ts';
import { icalManifest } from './manifest.ts';
import { mintFeedToken } from './tokens.ts';

/**
 * Feed management for signed-in users: create (connection + consent + token in one transaction),
 * list, rotate, delete; and the public endpoint's lookup by token hash. Every query is scoped to the
 * owner (organization + user), so another user's feed id behaves exactly like an unknown one.
 */

/** A feed as its owner sees it (never the token or URL: those are shown once). */
export interface FeedView {
  id: string;
  connectionId: string;
  name: string;
  /** First characters of the current token, to tell feeds apart. */
  tokenHint: string;
  categories: CategoryId[];
  caseScope: CaseScope;
  status: 'active' | 'revoked' | Exclude<ConnectionStatus, 'active' | 'revoked'>;
  createdAt: string;
  rotatedAt: string | null;
  revokedAt: string | null;
  /** Time of the last fetch answered 200 or 304 (from the transfer log). */
  lastFetchedAt: string | null;
  /** Fetches answered 200 or 304 (from the transfer log). */
  fetchCount: number;
}

/** A refusal with a stable code; routes turn it into an API error. */
export class IcalFeedError extends Error {
  constructor(
    readonly status: 403 | 404 | 409,
    readonly code: 'case_not_found' | 'feed_not_found' | 'user_inactive',
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'IcalFeedError';
  }
}

/** The owner of a request: the signed-in user. */
export interface FeedOwner {
  organizationId: string;
  userId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function ownerEmail(db: Db, owner: FeedOwner): Promise<string> {
  const user = await db
    .selectFrom('users')
    .select(['email'])
    .where('id', '=', owner.userId)
    .where('organization_id', '=', owner.organizationId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (!user) throw new IcalFeedError(403, 'user_inactive', 'your account is not active in this organization');
  return user.email.toLowerCase();
}

/**
 * Case ids of the list that are not live cases of the owner's organization assigned to the owner.
 * Unknown ids, other organizations' ids and cases the user is not assigned to are alike: not found.
 */
async function casesNotAssigned(db: Db, params: { organizationId: string; email: string; caseIds: string[] }): Promise<string[]> {
  const wellFormed = params.caseIds.filter((id) => UUID.test(id));
  const found = wellFormed.length
    ? await db
        .selectFrom('cases')
        .select(['id'])
        .where('organization_id', '=', params.organizationId)
        .where('deleted_at', 'is', null)
        .where('id', 'in', wellFormed)
        .where(sql<boolean>`assignees @> ${JSON.stringify([params.email])}::jsonb`)
        .execute()
    : [];
  const ok = new Set(found.map((r) => r.id));
  return [...new Set(params.caseIds)].filter((id) => !ok.has(id));
}

const feedColumns = [
  'f.id',
  'f.connection_id',
  'f.name',
  'f.token_hint',
  'f.created_at',
  'f.rotated_at',
  'f.revoked_at',
  'c.status as connection_status',
] as const;

type FeedRow = {
  id: string;
  connection_id: string;
  name: string;
  token_hint: string;
  created_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
  connection_status: ConnectionStatus;
};

async function views(db: Db, organizationId: string, rows: FeedRow[]): Promise<FeedView[]> {
  if (!rows.length) return [];
  const connectionIds = rows.map((r) => r.connection_id);
  // The latest consent version per connection (current, or the withdrawn one of a deleted feed).
  const consents = await db
    .selectFrom('consents')
    .select(['connection_id', 'version', 'categories', 'case_scope'])
    .where('connection_id', 'in', connectionIds)
    .orderBy('version', 'desc')
    .execute();
  const consentOf = new Map<string, (typeof consents)[number]>();
  for (const c of consents) if (!consentOf.has(c.connection_id)) consentOf.set(c.connection_id, c);
  const stats = await db
    .selectFrom('transfer_log')
    .select((eb) => ['connection_id', eb.fn.countAll<number>().as('fetches'), eb.fn.max('created_at').as('last')])
    .where('organization_id', '=', organizationId)
    .where('connection_id', 'in', connectionIds)
    .where('outcome', 'in', ['sent', 'not_modified'])
    .groupBy('connection_id')
    .execute();
  const statsOf = new Map(stats.map((s) => [s.connection_id!, s]));
  return rows.map((r) => {
    const consent = consentOf.get(r.connection_id);
    const s = statsOf.get(r.connection_id);
    const last = s?.last ? new Date(s.last) : null;
    return {
      id: r.id,
      connectionId: r.connection_id,
      name: r.name,
      tokenHint: r.token_hint,
      categories: (consent?.categories ?? []) as CategoryId[],
      caseScope: consent?.case_scope ?? { kind: 'cases', caseIds: [] },
      status: r.revoked_at ? 'revoked' : r.connection_status,
      createdAt: r.created_at.toISOString(),
      rotatedAt: r.rotated_at?.toISOString() ?? null,
      revokedAt: r.revoked_at?.toISOString() ?? null,
      lastFetchedAt: last?.toISOString() ?? null,
      fetchCount: Number(s?.fetches ?? 0),
    };
  });
}

function ownedFeeds(db: Db, owner: FeedOwner) {
  return db
    .selectFrom('ical_feeds as f')
    .innerJoin('connections as c', 'c.id', 'f.connection_id')
    .where('c.organization_id', '=', owner.organizationId)
    .where('c.user_id', '=', owner.userId)
    .where('c.platform', '=', icalManifest.id);
}

/**
 * Creates a feed: a `connections` row (platform `ical`, active, no external account), its consent
 * (method `api`) and the feed with a fresh token, in one transaction. Returns the plain token once.
 */
export async function createFeed(
  services: Pick<Services, 'db'>,
  params: FeedOwner & {
    name: string;
    categories: CategoryId[];
    caseScope: CaseScope;
    ip: string | null;
    userAgent: string | null;
  },
): Promise<{ feed: FeedView; token: string }> {
  const { db } = services;
  const email = await ownerEmail(db, params);
  if (params.caseScope.kind === 'cases') {
    const missing = await casesNotAssigned(db, { organizationId: params.organizationId, email, caseIds: params.caseScope.caseIds });
    if (missing.length) {
      throw new IcalFeedError(404, 'case_not_found', 'these cases do not exist or are not assigned to you', { caseIds: missing });
    }
  }
  const minted = mintFeedToken();
  const feedId = await db.transaction().execute(async (tx) => {
    const connection = await tx
      .insertInto('connections')
      .values({
        organization_id: params.organizationId,
        user_id: params.userId,
        platform: icalManifest.id,
        status: 'active',
        external_account: null,
        settings: JSON.stringify({ feedName: params.name }),
        last_error: sql`NULL`,
        sync_progress: sql`NULL`,
      })
      .returning(['id', 'organization_id', 'user_id', 'platform', 'status'])
      .executeTakeFirstOrThrow();
    // A feed is active from its creation: one `connection.created` (status active) announces it.
    await emitConnectionCreated(tx, connection);
    await grantConsent(tx, {
      connectionId: connection.id,
      organizationId: params.organizationId,
      grantedBy: params.userId,
      categories: params.categories,
      caseScope: normaliseCaseScope(params.caseScope),
      method: 'api',
      ip: params.ip,
      userAgent: params.userAgent,
    });
    const feed = await tx
      .insertInto('ical_feeds')
      .values({ connection_id: connection.id, token_hash: minted.hash, token_hint: minted.hint, name: params.name })
      .returning('id')
      .executeTakeFirstOrThrow();
    return feed.id;
  });
  const feed = await getFeed(db, params, feedId);
  return { feed: feed!, token: minted.token };
}

/** One of the owner's feeds, or null (unknown, someone else's, or malformed id). */
export async function getFeed(db: Db, owner: FeedOwner, feedId: string): Promise<FeedView | null> {
  if (!UUID.test(feedId)) return null;
  const rows = await ownedFeeds(db, owner).select(feedColumns).where('f.id', '=', feedId).execute();
  return (await views(db, owner.organizationId, rows))[0] ?? null;
}

/** The owner's feeds, newest first; revoked (deleted) feeds only when asked. */
export async function listFeeds(db: Db, owner: FeedOwner, options: { includeRevoked?: boolean } = {}): Promise<FeedView[]> {
  let q = ownedFeeds(db, owner).select(feedColumns);
  if (!options.includeRevoked) q = q.where('f.revoked_at', 'is', null).where('c.status', '!=', 'revoked');
  const rows = await q.orderBy('f.created_at', 'desc').orderBy('f.id').execute();
  return views(db, owner.organizationId, rows);
}

/** One page of {@link listFeeds}, newest first (`(created_at, id)`), after `cursor`. */
export async function listFeedsPage(
  db: Db,
  owner: FeedOwner,
  params: { includeRevoked?: boolean; limit: number; cursor: TimeIdCursor | null },
): Promise<{ items: FeedView[]; nextCursor: string | null }> {
  const keyset = timeIdKeyset('f');
  let q = ownedFeeds(db, owner)
    .select(feedColumns)
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(params.limit + 1);
  if (!params.includeRevoked) q = q.where('f.revoked_at', 'is', null).where('c.status', '!=', 'revoked');
  if (params.cursor) q = q.where(keyset.after(params.cursor));
  const rows = await q.execute();
  return { items: await views(db, owner.organizationId, rows.slice(0, params.limit)), nextCursor: nextTimeIdCursor(rows, params.limit) };
}

/** Replaces a live feed's token: the old URL stops matching at once. Returns the new token once. */
export async function rotateFeed(db: Db, owner: FeedOwner, feedId: string): Promise<{ feed: FeedView; token: string }> {
  if (!UUID.test(feedId)) throw feedNotFound();
  const minted = mintFeedToken();
  const res = await db
    .updateTable('ical_feeds')
    .set({ token_hash: minted.hash, token_hint: minted.hint, rotated_at: sql`now()` })
    .where('id', '=', feedId)
    .where('revoked_at', 'is', null)
    .where('connection_id', 'in', (eb) =>
      eb
        .selectFrom('connections')
        .select('id')
        .where('organization_id', '=', owner.organizationId)
        .where('user_id', '=', owner.userId)
        .where('platform', '=', icalManifest.id)
        .where('status', '=', 'active'),
    )
    .executeTakeFirst();
  if (!Number(res.numUpdatedRows)) throw feedNotFound();
  return { feed: (await getFeed(db, owner, feedId))!, token: minted.token };
}

/**
 * Deletes a feed: the token stops matching at once, then the feed's connection goes through the
 * revocation pipeline like any disconnect (`DELETE /v1/connections/{id}`): connection revoked,
 * consent withdrawn, revocation epoch bumped, fetches already being answered drained before this
 * returns, a signed receipt, audit and security-event entries.
 */
export async function deleteFeed(services: Services, owner: FeedOwner, feedId: string, enqueue: (revocationId: string) => Promise<void>): Promise<void> {
  if (!UUID.test(feedId)) throw feedNotFound();
  const feed = await services.db
    .selectFrom('ical_feeds as f')
    .innerJoin('connections as c', 'c.id', 'f.connection_id')
    .select(['f.revoked_at', 'c.id as connection_id', 'c.status'])
    .where('f.id', '=', feedId)
    .where('c.organization_id', '=', owner.organizationId)
    .where('c.user_id', '=', owner.userId)
    .where('c.platform', '=', icalManifest.id)
    .executeTakeFirst();
  // Gone already. (A feed whose token died but whose connection is still live — a deletion interrupted
  // half-way — is finished by deleting it again.)
  if (!feed || (feed.revoked_at && feed.status === 'revoked')) throw feedNotFound();
  await services.db.updateTable('ical_feeds').set({ revoked_at: sql`now()` }).where('id', '=', feedId).where('revoked_at', 'is', null).execute();
  if (feed.status === 'revoked') return;
  await requestRevocation(services, {
    organizationId: owner.organizationId,
    target: { kind: 'connection', connectionId: feed.connection_id },
    reason: 'iCal feed deleted by its owner',
    purgeRemote: false,
    requestedBy: { kind: 'user', userId: owner.userId },
    enqueue,
  });
}

function feedNotFound(): IcalFeedError {
  return new IcalFeedError(404, 'feed_not_found', 'feed not found');
}

/** What the public endpoint needs about a live feed. */
export interface LiveFeed {
  feedId: string;
  name: string;
  connectionId: string;
  organizationId: string;
  userId: string;
  userEmail: string;
  dataVersion: number;
  consentId: string;
  consentVersion: number;
  caseScope: CaseScope;
}

/**
 * The live feed whose token has this hash, or null. One indexed query decides everything a feed
 * needs to be served — token current (a rotation replaced the hash), feed not deleted, connection
 * active, owner active, platform not switched off for the organization, a consent not withdrawn —
 * so unknown, rotated, revoked and withdrawn tokens all take the same path to the same 404.
 */
export async function findLiveFeed(db: Db, tokenHash: string): Promise<LiveFeed | null> {
  return (await findLiveFeeds(db, [tokenHash])).get(tokenHash) ?? null;
}

/**
 * {@link findLiveFeed} for several token hashes in one query (the fetches of concurrent requests,
 * see `fetch-batch.ts`): the live feeds found, by token hash.
 */
export async function findLiveFeeds(db: Db, tokenHashes: readonly string[]): Promise<Map<string, LiveFeed>> {
  const out = new Map<string, LiveFeed>();
  if (!tokenHashes.length) return out;
  // One call of the cached-plan function (migration 0026): the five-table join is not planned per fetch.
  const { rows } = await sql<{
    token_hash: string;
    feed_id: string;
    name: string;
    connection_id: string;
    organization_id: string;
    user_id: string;
    email: string;
    data_version: number | string;
    consent_id: string;
    consent_version: number;
    case_scope: CaseScope;
  }>`SELECT * FROM casebridge_ical_live_feeds(${[...new Set(tokenHashes)]}::text[])`.execute(db);
  for (const row of rows) {
    out.set(row.token_hash, {
      feedId: row.feed_id,
      name: row.name,
      connectionId: row.connection_id,
      organizationId: row.organization_id,
      userId: row.user_id,
      userEmail: row.email,
      dataVersion: Number(row.data_version),
      consentId: row.consent_id,
      consentVersion: row.consent_version,
      caseScope: row.case_scope,
    });
  }
  return out;
}
