/**
 * The outbound gate: the one door every transfer to (or import from) a third party passes through.
 *
 * Rules, per gate call (`send` = one item, `sendMany` = a reconcile chunk):
 *
 * 1. **Load.** The connection (status, platform, organization, user, external account), the
 *    organization's `settings.disabledPlatforms` and the connection's consent are cached in the
 *    process, keyed by (connection id, revocation epoch). The epoch is read from Redis with ONE round
 *    trip per gate call — one atomic script call that also registers the call's in-flight lease (`inflight.ts`) — so
 *    a withdrawal or revocation (which bumps the epoch, see `consent/service.ts#bumpRevocationEpoch`)
 *    is seen by every process at its next call, a running job stops at its next call, and a
 *    revocation that waits for leases knows no call it did not stop is still going out. A long
 *    `sendMany` re-reads the epoch between items at most every {@link GateOptions.epochRecheckMs} ms
 *    (default 25; read ahead while its calls are out, and an item finding the read older than that
 *    starts the next read and leaves on the last one until it is twice as old, so a call rarely waits
 *    for a read), so even one large chunk stops within about twice that of a withdrawal; when the consent
 *    changed mid-chunk (even widened) the remaining items are refused and the caller re-plans.
 *    States that refuse transfers are never cached, and cached states expire after
 *    {@link GateOptions.cacheTtlMs} (5 s) as a safety net for changes made without an epoch bump.
 * 2. **Refuse** (a `blocked` row with the reason, result `{ outcome: 'blocked' }`):
 *    connection missing or revoked → `connection_revoked`; not `active` → `connection_not_active`;
 *    platform in the organization's `disabledPlatforms` → `platform_disabled`; no consent ever →
 *    `consent_missing`; consent withdrawn → `consent_withdrawn`; the item's first (required) category
 *    not consented → `category_not_consented`; a subject case outside the consent's case scope →
 *    `case_out_of_scope`; a field in no category of the item → `field_not_in_registry`; a
 *    `recipient.suppressible` addressee on the organization's suppression list (an invitee who opted
 *    out) → `recipient_suppressed`.
 *    Exceptions: `delete` needs an active connection but no consent, category or case scope
 *    (removing data is minimisation); with purpose `revocation_purge` deletes also pass on a `revoked`
 *    connection and a disabled platform (the revocation pipeline purges remote copies);
 *    `provision` (e.g. creating a dedicated calendar) needs an active connection and a current
 *    consent but no category.
 * 3. **Minimise.** Only fields of consented categories among the item's categories are kept;
 *    `perform` receives only those. The payload SHA-256 and byte size are computed over the canonical
 *    JSON of the minimised fields (bytes: or the connector-reported `bytes`) — memoised when the item's
 *    fields are deeply frozen (`freezeDeep`), as a cached iCal feed's 2.5 MB of columns are.
 * 4. **Write ahead, only for calls about to leave.** An item's intent row is committed before its
 *    `perform` runs: a transfer that reached a provider always has a log row. Intents are written for
 *    the items about to leave — the call starting now and, in batches while calls are out, the next
 *    window of up to twice `concurrency` items of the chunk (so the next calls need not wait for the
 *    log; see `lookahead`). An item that does not leave
 *    after all has, with an intent written ahead, a `not_sent` (or, refused, a `blocked`) row against
 *    it; without one, a `blocked` refusal row or — skipped by {@link SendManyOptions.beforeSend} or an
 *    aborted {@link SendManyOptions.signal} — no row at all (result `not_sent`). Intents ready at the
 *    same time, here or in other gate calls of the process, share one multi-row statement (the log
 *    writer's group commit). When an intent cannot be written, neither its call nor any later call of
 *    the chunk is made, and the call rejects after the outcomes of the calls that were made are written.
 *    Every call leaves on an epoch read less than {@link MAX_EPOCH_AGE_MS} old (25 ms normally), so a
 *    revocation whose drain deadline is longer knows that no call starts after it answers.
 * 5. **Perform** with bounded concurrency (a pool of `concurrency` workers), inside {@link gateScope} so gated clients can
 *    check they are called from here. Never retried here: a `failed` result carries the error and
 *    the queue decides.
 * 6. **Outcome rows**, saying only what is known: `sent` | `received` (inbound) | `not_modified`;
 *    for a thrown error (see `errors.ts#failedCallOutcome`) `failed` (the provider answered with an
 *    error), `unknown` (a timeout, a connection lost mid-request, an error we cannot place: the write
 *    may have been applied — `resolution.ts` reads the provider later and appends a `resolved` row) or
 *    `not_sent` (the connection was never made, or the connector refused before the request) — with
 *    provider status, remote id, duration and, for errors, the class and a secret-scrubbed message.
 *    Buffered and written in batches (up to {@link OUTCOME_BATCH} rows while a chunk's calls go on),
 *    committed before the call returns. A database error here leaves intents without an outcome: the
 *    recovery job turns them into `unknown` and resolves them; and no further call of the chunk starts.
 * 7. **An unexpected error mid-chunk** (the caller's `beforeSend` throwing, Redis failing an epoch
 *    re-read, a batch of outcomes the log refused) stops the chunk: no call starts after it, the calls
 *    already out finish and have their outcomes, every intent written ahead for a call that never
 *    started gets a `not_sent` row (`chunk_failed`) at once — so only calls that left and got no answer
 *    are left open for the recovery job — and then the call rejects.
 *
 * Inbound transfers (direction `inbound`, e.g. contact imports) pass the same checks and are logged
 * the same way. The gate is the only module that may construct provider SDK clients: gated factories
 * live under `src/transfers/clients/`; `test/architecture/outbound-gate.test.ts` fails the build when
 * code under `connectors/` or `queues/` imports an HTTP client or provider SDK or calls `fetch`.
 */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { currentConsent, toConsent } from '../consent/service.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { transfersTotal } from '../observability/metrics.ts';
import { inSpan } from '../observability/tracing.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { observeProviderCall } from './call-observer.ts';
import { canonicalDigest, freezeDeep } from './canonical.ts';
import { type ConsentState, type Decision, decideTransfer, type GateConnection } from './decision.ts';
import { failedCallOutcome, TransferNotSentError } from './errors.ts';
import { gateScope } from './gate-scope.ts';
import { LeaseBatcher } from './inflight.ts';
import { cleanText, normaliseSubjects, type TransferLogEntry } from './log-entry.ts';
import { FeedCheckFailedError, TransferLogWriter } from './log-writer.ts';
import type { OutboundGate, ProviderOutcome, SendManyOptions, TransferActor, TransferContext, TransferItem, TransferResult } from './types.ts';

export interface GateOptions {
  /**
   * Upper bound (default 5 s) on how long a cached connection/consent state is trusted without an
   * epoch bump — the safety net for code that changes consent or connection state without bumping
   * (use `grantConsentAndPublish`, `withdrawConsents`, or `bumpRevocationEpoch` after such changes).
   */
  cacheTtlMs?: number;
  /** Default `sendMany` concurrency. */
  concurrency?: number;
  /**
   * Minimum time (default 25 ms) between epoch re-reads inside one `sendMany`: a revocation waits for
   * the calls in flight plus at most about twice this long for the chunk to notice it (see
   * `SOFT_RECHECK_FACTOR`).
   */
  epochRecheckMs?: number;
}

export interface GateDeps {
  db: Db;
  redis: Redis;
  redisPrefix: string;
  logger: Logger;
  /** Shared log writer (one per process keeps chain heads cached and group-commits appends). */
  log?: TransferLogWriter;
  options?: GateOptions;
}

/** The gate implementation, plus its log writer (shared with other appenders in the process). */
export interface OutboundGateImpl extends OutboundGate {
  readonly log: TransferLogWriter;
  /** Drops the cached state of one connection or all (the epoch makes this unnecessary across processes). */
  invalidate(connectionId?: string): void;
}

interface GateState {
  connection: GateConnection | null;
  consent: ConsentState;
  /**
   * Whom to attribute a row to: the connection, or for a deleted connection what the log last knew
   * about it (so even a call for a vanished connection leaves a `blocked` row in its organization).
   */
  attribution: GateConnection | null;
}

interface CacheEntry {
  epoch: string;
  loadedAt: number;
  state: GateState;
}

/** Loads what the gate decides on: the connection with its organization's switches, and its consent. */
export async function loadGateState(db: Db, connectionId: string): Promise<GateState> {
  if (!UUID.test(connectionId)) return { connection: null, consent: { kind: 'missing' }, attribution: null };
  const row = await db
    .selectFrom('connections as c')
    .innerJoin('organizations as o', 'o.id', 'c.organization_id')
    .select(['c.id', 'c.organization_id', 'c.user_id', 'c.platform', 'c.status', 'c.external_account', 'o.settings'])
    .where('c.id', '=', connectionId)
    .executeTakeFirst();
  if (!row) {
    const seen = await db
      .selectFrom('transfer_log')
      .select(['organization_id', 'user_id', 'platform', 'recipient_account'])
      .where('connection_id', '=', connectionId)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    const attribution: GateConnection | null = seen
      ? {
          id: connectionId,
          organizationId: seen.organization_id,
          userId: seen.user_id ?? '',
          platform: seen.platform ?? 'unknown',
          status: 'revoked',
          externalAccount: seen.recipient_account,
          disabledPlatforms: [],
        }
      : null;
    return { connection: null, consent: { kind: 'missing' }, attribution };
  }
  const connection: GateConnection = {
    id: row.id,
    organizationId: row.organization_id,
    userId: row.user_id,
    platform: row.platform,
    status: row.status,
    externalAccount: row.external_account,
    disabledPlatforms: row.settings?.disabledPlatforms ?? [],
  };
  const current = await currentConsent(db, connectionId);
  if (current) return { connection, consent: { kind: 'current', consent: current }, attribution: connection };
  const last = await db.selectFrom('consents').selectAll().where('connection_id', '=', connectionId).orderBy('version', 'desc').limit(1).executeTakeFirst();
  return {
    connection,
    consent: last ? { kind: 'withdrawn', consent: toConsent(last) } : { kind: 'missing' },
    attribution: connection,
  };
}

/**
 * The practice areas of the cases the items name, read only when the consent's scope is by practice
 * area (read at decision time, so a case moved out of the scope stops leaving at once).
 */
async function practiceAreasFor(db: Db, state: GateState, items: readonly TransferItem[]): Promise<ReadonlyMap<string, string | null> | undefined> {
  if (state.consent.kind !== 'current' || state.consent.consent.caseScope.kind !== 'practice_areas' || !state.connection) return undefined;
  const ids = [...new Set(items.flatMap((i) => i.subjects.caseIds ?? []))].filter((id) => UUID.test(id));
  const areas = new Map<string, string | null>();
  if (!ids.length) return areas;
  const rows = await db
    .selectFrom('cases')
    .select(['id', 'practice_area'])
    .where('organization_id', '=', state.connection.organizationId)
    .where('id', 'in', ids)
    .where('deleted_at', 'is', null)
    .execute();
  for (const r of rows) areas.set(r.id, r.practice_area);
  return areas;
}

/** Oldest epoch read a call may leave on (see `stillAllowed`); revocation drain deadlines are longer. */
const MAX_EPOCH_AGE_MS = 1_000;

/**
 * Between the items of a chunk, an epoch read older than the re-check interval is renewed in the
 * background until it is this many intervals old; only then does the next item wait for the read.
 */
const SOFT_RECHECK_FACTOR = 2;

/** Outcome rows written together while a chunk's calls are still running. */
const OUTCOME_BATCH = 100;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Creates the process's gate. */
export function createOutboundGate(deps: GateDeps): OutboundGateImpl {
  const { db, redis, redisPrefix, logger } = deps;
  const log = deps.log ?? new TransferLogWriter(db);
  const ttl = deps.options?.cacheTtlMs ?? 5_000;
  const defaultConcurrency = deps.options?.concurrency ?? 4;
  const recheckMs = deps.options?.epochRecheckMs ?? 25;
  const cache = new Map<string, CacheEntry>();
  /** How long the last call of each connection's last chunk took (ms): its next chunk plans reads ahead from its first call. */
  const lastCallMsOf = new LRUCache<string, number>({ max: 10_000 });
  // Lease registrations and releases of concurrent calls share one Redis script call (see `LeaseBatcher`).
  const leases = new LeaseBatcher(redis, redisPrefix);

  /**
   * Registers (or extends) this call's in-flight lease and reads the revocation epoch atomically
   * (see `inflight.ts`): a revocation bumps the epoch and then waits for leases, so every transfer
   * either sees the new epoch or finishes before the revocation answers.
   */
  const leaseAndEpoch = async (connectionId: string, leaseId: string): Promise<string> => (await leases.begin(connectionId, leaseId)) ?? '0';

  /** Releases a lease; a failure only delays a waiting revocation until the lease expires. */
  const releaseLease = (connectionId: string, leaseId: string): Promise<void> =>
    leases
      .end(connectionId, leaseId)
      .catch((err: unknown) => logger.warn({ err, connectionId }, 'could not release the in-flight lease; it expires on its own'));

  const warnUnknownConnection = (ctx: TransferContext) =>
    logger.warn({ connectionId: ctx.connectionId, purpose: ctx.purpose }, 'gate call for an unknown connection refused');

  const stateFor = async (connectionId: string, epoch: string): Promise<GateState> => {
    const hit = cache.get(connectionId);
    if (hit && hit.epoch === epoch && Date.now() - hit.loadedAt < ttl) return hit.state;
    const state = await loadGateState(db, connectionId);
    const usable = state.connection?.status === 'active' && state.consent.kind === 'current';
    if (usable) cache.set(connectionId, { epoch, loadedAt: Date.now(), state });
    else cache.delete(connectionId);
    if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
    return state;
  };

  async function sendMany<T>(
    ctx: TransferContext,
    items: TransferItem[],
    perform: (minimised: Record<string, unknown>, item: TransferItem, index: number) => Promise<ProviderOutcome<T>>,
    options?: SendManyOptions,
  ): Promise<Array<TransferResult<T>>> {
    if (!items.length) return [];
    const leaseId = randomUUID();
    // When the epoch read was *issued*: a revocation's bump before this instant is seen by it.
    let lastEpochCheck = Date.now();
    let epoch = await leaseAndEpoch(ctx.connectionId, leaseId);
    let released = false;
    // The release is not awaited: it shares the next batch of lease registrations (see `LeaseBatcher`);
    // until it lands a waiting revocation only waits a little longer.
    const release = () => {
      released = true;
      void releaseLease(ctx.connectionId, leaseId);
    };
    // Outcome (and refusal) rows are buffered as calls settle and written in batches of OUTCOME_BATCH
    // while the chunk's other calls are still in flight, the rest when the calls are over; the call
    // returns once all of them are committed. The writer merges batches of concurrent gate calls.
    const written: Array<Promise<unknown>> = [];
    const buffered: TransferLogEntry[] = [];
    /** An unexpected error (or a batch of outcomes the log refused): no item of the chunk starts after it. */
    let failure: { error: unknown } | null = null;
    const flush = () => {
      if (!buffered.length) return;
      const appended = log.append(buffered.splice(0));
      // Awaited below. A log that cannot take outcomes takes no more calls either: the chunk stops (the
      // intents of these rows stay open for the recovery job, which turns them into `unknown`).
      appended.catch((error: unknown) => {
        failure ??= { error };
      });
      written.push(appended);
    };
    const recordOutcome = (row: TransferLogEntry) => {
      buffered.push(row);
      if (buffered.length >= OUTCOME_BATCH) flush();
    };
    try {
      const results = await inSpan(
        'gate.send_many',
        { attributes: { 'casebridge.connection_id': ctx.connectionId, 'casebridge.purpose': ctx.purpose, 'casebridge.items': items.length } },
        () => run(),
      );
      flush();
      await Promise.all(written);
      // The calls are over and their outcomes committed: release the lease (a waiting revocation may
      // answer, and finds every row of these calls written). The release shares the Redis call of the
      // caller's next lease, requested in this same turn.
      release();
      return results;
    } finally {
      // Even when the call failed half-way, every outcome row of a call that was made is written. A
      // failure here leaves those intents open: the recovery job turns them into `unknown` and resolves them.
      flush();
      if (written.length) await Promise.allSettled(written);
      if (!released) release();
    }

    async function run(): Promise<Array<TransferResult<T>>> {
      const state = await stateFor(ctx.connectionId, epoch);
      const suppressed = await suppressedRecipients(db, state.attribution, items);
      const areas = await practiceAreasFor(db, state, items);
      let latestAreas = areas;
      const decisions = items.map((item, i) =>
        decideTransfer({
          connection: state.connection,
          consent: state.consent,
          item,
          purpose: ctx.purpose,
          suppressed: suppressed.has(i),
          practiceAreas: areas,
        }),
      );
      // Rows are chained per organization: a call for a connection the database never knew has no
      // organization to log under, so it is refused with a warning instead of a row.
      const now = new Date();
      // One frozen actor record for the whole chunk: its canonical JSON is computed once for all rows.
      const actor = freezeDeep(actorRecord(ctx.actor));
      const base = items.map((item, i) => baseEntry(ctx, item, decisions[i]!, state.attribution, now, actor));
      const concurrency = Math.max(1, options?.concurrency ?? defaultConcurrency);
      if (!state.attribution) warnUnknownConnection(ctx);
      let latest: GateState = state;
      /** Set when an intent could not be written: no later item of the chunk leaves. */
      let intentFailure: { error: unknown } | null = null;

      const results: Array<TransferResult<T>> = new Array(items.length);
      /** Items whose call was handed to `perform` (they get an outcome row, or stay open for recovery). */
      const started: boolean[] = new Array(items.length).fill(false);
      let recheck: Promise<void> | null = null;

      /**
       * Re-reads the epoch (extending the lease), one read at a time for the chunk. The read's time
       * counts only once what it found is in force: a call checking meanwhile either waits for it or
       * relies on the previous read, never on a new epoch with the old state.
       */
      const refreshEpoch = (): Promise<void> => {
        recheck ??= (async () => {
          const issued = Date.now();
          const now = await leaseAndEpoch(ctx.connectionId, leaseId);
          if (now !== epoch) {
            const fresh = await stateFor(ctx.connectionId, now);
            const areas = await practiceAreasFor(db, fresh, items);
            latest = fresh;
            latestAreas = areas;
            epoch = now;
            // Revoked or withdrawn: write the outcomes of the calls already finished now, so that a
            // waiting revocation sees which calls are really still under way.
            flush();
          }
          lastEpochCheck = issued;
        })().finally(() => {
          recheck = null;
        });
        return recheck;
      };
      /**
       * Has a withdrawal/revocation landed since the chunk started? Uses an epoch read at most `maxAgeMs`
       * old (`recheckMs` between the items of a long chunk; {@link MAX_EPOCH_AGE_MS} right before a call
       * leaves). A read that was under way for longer than MAX_EPOCH_AGE_MS is repeated, so a call that
       * starts after a revocation's drain deadline (longer than that) has always seen its epoch bump.
       */
      const stillAllowed = async (i: number, maxAgeMs: number): Promise<Decision> => {
        while (Date.now() - lastEpochCheck >= maxAgeMs) {
          await refreshEpoch();
          if (Date.now() - lastEpochCheck < MAX_EPOCH_AGE_MS) break;
        }
        return decidedOnLatest(i);
      };
      /** The item's decision under the state of the last epoch read (its first decision while nothing changed). */
      const decidedOnLatest = (i: number): Decision => {
        const original = decisions[i]!;
        if (latest === state) return original;
        const again = decideTransfer({
          connection: latest.connection,
          consent: latest.consent,
          item: items[i]!,
          purpose: ctx.purpose,
          suppressed: suppressed.has(i),
          practiceAreas: latestAreas,
        });
        if (!again.allowed) return again;
        // A new consent version may allow less: the intent row would name the old one, so stop and
        // let the caller re-plan under the new one.
        if (again.consent?.id !== original.consent?.id && items[i]!.operation !== 'delete') {
          return { ...again, allowed: false, reason: 'consent_withdrawn' };
        }
        return original;
      };

      /** Intent writes by item (true once committed, false when the write failed) and the rows written. */
      const intentWrites = new Map<number, Promise<boolean>>();
      const intentRows = new Map<number, TransferLogEntry>();
      /** Items whose intent is known committed (so the call need not wait a turn for that promise). */
      const intentCommitted: boolean[] = new Array(items.length).fill(false);
      /** Appends the intents of these items in one statement; a failure stops the chunk (none of them leaves). */
      const writeIntents = (indices: number[]): Promise<boolean> => {
        const rows = indices.map((j) => {
          const r: TransferLogEntry = { ...base[j]!, createdAt: new Date() };
          intentRows.set(j, r);
          return r;
        });
        const written = log.append(rows).then(
          () => {
            for (const j of indices) intentCommitted[j] = true;
            return true;
          },
          (error: unknown) => {
            intentFailure ??= { error };
            return false;
          },
        );
        for (const j of indices) intentWrites.set(j, written);
        return written;
      };
      /**
       * Intents written ahead, in batches: when fewer than `concurrency` of the items after `i` (within
       * a window of twice that) have an intent, the rest of the window is written in one statement —
       * while `concurrency` calls are still ahead of it, so the next calls find their intents committed.
       * At most two windows of items can end with a `not_sent` row instead of a call.
       */
      const lookahead = (i: number): number[] => {
        const missing: number[] = [];
        if (failure) return missing;
        let seen = 0;
        for (let j = i + 1; j < items.length && seen < 2 * concurrency; j++) {
          if (!decisions[j]!.allowed || !base[j]) continue;
          seen++;
          if (!intentWrites.has(j)) missing.push(j);
        }
        return seen - missing.length < concurrency ? missing : [];
      };

      /**
       * {@link stillAllowed} without its await when nothing can have changed: the chunk's state is
       * still the one it decided on and the last epoch read is younger than `maxAgeMs` (most items).
       */
      const allowedNow = (i: number, maxAgeMs: number): Decision | Promise<Decision> =>
        latest === state && Date.now() - lastEpochCheck < maxAgeMs ? decisions[i]! : stillAllowed(i, maxAgeMs);

      /**
       * The check between items: {@link allowedNow} with the re-check interval, except that a read older
       * than the interval but younger than twice it is not waited for — the re-read starts (if none is
       * under way) and the item is decided on the last one. Calls that end together used to queue
       * behind one Redis round trip whenever the read planned ahead came late (a whole wave of a 20 ms
       * chunk waiting 2–4 ms, up to 30 ms a chunk under load). A withdrawal still stops the chunk
       * within twice the interval, and every call still leaves on a read younger than MAX_EPOCH_AGE_MS.
       */
      const allowedBetweenItems = (i: number): Decision | Promise<Decision> => {
        const age = Date.now() - lastEpochCheck;
        if (age < recheckMs) return decidedOnLatest(i);
        if (age >= recheckMs * SOFT_RECHECK_FACTOR) return stillAllowed(i, recheckMs);
        if (!recheck) refreshEpoch().catch(() => undefined);
        return decidedOnLatest(i);
      };

      /**
       * An item that does not leave. Without an intent, no row (nothing was about to leave); with one
       * written ahead, its `not_sent` row. The caller learns why.
       */
      const notSent = async (i: number, reason: string): Promise<void> => {
        const written = intentWrites.get(i);
        if (written && (await written)) {
          const intent = intentRows.get(i)!;
          recordOutcome({ ...intent, id: randomUUID(), intentId: intent.id, outcome: 'not_sent', reason, createdAt: new Date() });
        }
        results[i] = { outcome: 'failed', error: new TransferNotSentError(reason), transferId: base[i]?.id ?? randomUUID(), logged: 'not_sent' };
        count(state.attribution, items[i]!, 'not_sent');
      };

      /** One item: refused, not sent, or its call made and its outcome buffered. */
      const transfer = async (i: number): Promise<void> => {
        const item = items[i]!;
        const decision = decisions[i]!;
        const row = base[i];
        if (!decision.allowed) {
          if (row) recordOutcome(row);
          results[i] = { outcome: 'blocked', reason: decision.reason, transferId: row?.id ?? randomUUID() };
          count(state.attribution, item, 'blocked');
          return;
        }
        if (!row) return notSent(i, 'connection_unknown');
        if (intentFailure) return notSent(i, 'intent_not_written');
        if (options?.signal?.aborted) return notSent(i, abortReason(options.signal));
        const skip = options?.beforeSend?.(item, i);
        if (skip) return notSent(i, skip);
        const checked = allowedBetweenItems(i);
        const current = checked instanceof Promise ? await checked : checked;
        if (!current.allowed) {
          // Refused at the last moment: against its intent when one was written ahead, else a plain
          // refusal row (nothing was about to leave).
          const ahead = intentWrites.get(i);
          const intent = ahead && (await ahead) ? intentRows.get(i)! : null;
          recordOutcome(
            intent
              ? { ...intent, id: randomUUID(), intentId: intent.id, outcome: 'blocked', reason: current.reason, createdAt: new Date() }
              : { ...row, outcome: 'blocked', reason: current.reason, payloadSha256: null, payloadBytes: null, createdAt: new Date() },
          );
          results[i] = { outcome: 'blocked', reason: current.reason, transferId: row.id };
          count(state.attribution, item, 'blocked');
          return;
        }
        // Write ahead: this item's intent (usually written already, while earlier calls were out),
        // committed before its call; and the next items' intents, written while this call is out.
        // Intents ready at the same time — here or in other gate calls of the process — share a statement.
        let own = intentWrites.get(i);
        if (!own) own = writeIntents([i, ...lookahead(i)]);
        else {
          const ahead = lookahead(i);
          if (ahead.length) void writeIntents(ahead);
        }
        if (!intentCommitted[i] && !(await own)) return notSent(i, 'intent_not_written');
        const intent = intentRows.get(i)!;
        // Waiting for the commit took time: make sure the epoch read this call leaves on is recent.
        const rechecked = allowedNow(i, MAX_EPOCH_AGE_MS);
        const final = rechecked instanceof Promise ? await rechecked : rechecked;
        if (!final.allowed) {
          recordOutcome({ ...intent, id: randomUUID(), intentId: intent.id, outcome: 'not_sent', reason: final.reason, createdAt: new Date() });
          results[i] = { outcome: 'blocked', reason: final.reason, transferId: intent.id };
          count(state.attribution, item, 'not_sent');
          return;
        }
        // The caller stopped (e.g. a 429 paused the account) while the intent was being committed:
        // the call does not leave (its intent gets a `not_sent` row).
        if (options?.signal?.aborted) return notSent(i, abortReason(options.signal));
        // Another item of the chunk failed unexpectedly meanwhile: this call does not start either.
        if (failure) return notSent(i, 'chunk_failed');
        started[i] = true;
        if (items.length > 1) planReadAhead();
        const startedAt = performance.now();
        // A follow-up request of this call leaves only under the epoch this call left on (re-read, which
        // also extends the lease): a revocation begun meanwhile stops it, even once its 202 is out.
        const leftOn = epoch;
        const stillAllowedForCall = async () => (await leaseAndEpoch(ctx.connectionId, leaseId)) === leftOn;
        try {
          // A single transfer (`send`) waits for its outcome row right after its call: while the call is
          // out, an outcome-only statement of the log waits a moment for that row, so concurrent `send`
          // calls that left together share the statement of their outcomes (see the log writer). A
          // chunk's outcomes are buffered and written in batches anyway: its calls announce nothing.
          const announce = items.length === 1;
          if (announce) log.expect(intent.organizationId, 1);
          let done: ProviderOutcome<T>;
          try {
            done = await observeProviderCall(
              { platform: intent.platform, operation: item.operation, transferId: intent.id, connectionId: ctx.connectionId, purpose: ctx.purpose },
              () =>
                gateScope.run({ transferId: intent.id, connectionId: ctx.connectionId, purpose: ctx.purpose, stillAllowed: stillAllowedForCall }, () =>
                  perform({ ...decision.minimised }, item, i),
                ),
            );
          } finally {
            if (announce) log.expect(intent.organizationId, -1);
          }
          const outcome = done.notModified ? 'not_modified' : intent.direction === 'inbound' ? 'received' : 'sent';
          recordOutcome({
            ...intent,
            id: randomUUID(),
            intentId: intent.id,
            outcome,
            subjects: done.subjects ? normaliseSubjects({ ...mergeSubjects(intent.subjects, done.subjects) }) : intent.subjects,
            providerStatus: done.status ?? null,
            remoteId: cleanText(done.remoteId ?? null, 1024),
            reason: cleanText(done.note ?? null, 200),
            payloadBytes: done.notModified ? 0 : (done.bytes ?? intent.payloadBytes),
            durationMs: Math.round(performance.now() - startedAt),
            createdAt: new Date(),
          });
          results[i] = { outcome: 'sent', value: done.value, transferId: intent.id };
          count(state.attribution, item, outcome);
        } catch (error) {
          // What the error says about the write: the provider refused it (`failed`), it never left
          // (`not_sent`), or it may have been applied (`unknown`, resolved later by reading the provider).
          const { outcome, summary } = failedCallOutcome(error);
          recordOutcome({
            ...intent,
            id: randomUUID(),
            intentId: intent.id,
            outcome,
            providerStatus: summary.providerStatus,
            errorClass: summary.errorClass,
            errorMessage: summary.errorMessage,
            durationMs: Math.round(performance.now() - startedAt),
            createdAt: new Date(),
          });
          results[i] = { outcome: 'failed', error, transferId: intent.id, logged: outcome };
          count(state.attribution, item, outcome);
        }
        lastCallMs = performance.now() - startedAt;
        // Items are still to start: re-read the epoch now, in the background, once half the re-check
        // interval has passed, so the next call finds a recent read instead of waiting for one.
        readAheadIfHalfOld();
      };

      /**
       * The epoch read ahead while calls are out: calls that start together also end together, so a
       * read made when they end is as old as one call by the time the next ones start — with calls of
       * about the re-check interval, half the items of a chunk waited for a read then (26 of 50, 2 ms
       * each, at 20 ms a call). So when a call leaves, and calls take at least half the interval (the
       * connection's last one did: of this chunk, or of its last chunk for the first wave) and one as
       * long would end on a read past 60% of it, a read is planned for when the last one is 60% of the
       * interval old: the calls that end after it find it fresh. Shorter calls need none (they find the
       * read their predecessors made when they ended, above). One timer per chunk; none once no item is
       * left to start (a read registers the lease: none may follow the chunk's release).
       */
      let readAhead: ReturnType<typeof setTimeout> | null = null;
      let poolDone = false;
      /** How long the last call of the connection took (ms; this chunk's once one ended); null: none known. */
      let lastCallMs: number | null = lastCallMsOf.get(ctx.connectionId) ?? null;
      const stillToStart = () => !poolDone && !failure && next < items.length;
      /** A background re-read when items are still to start, none is under way and the last is half the interval old. */
      const readAheadIfHalfOld = (): void => {
        if (stillToStart() && !recheck && Date.now() - lastEpochCheck >= recheckMs / 2) refreshEpoch().catch(() => undefined);
      };
      const planReadAhead = (): void => {
        if (readAhead || recheck || recheckMs <= 0 || !stillToStart()) return;
        // Only when a call like the last one would end on a read past 60% of the interval: shorter calls
        // find the read their predecessors made when they ended (above), and need no timer.
        const due = lastEpochCheck + recheckMs * 0.6;
        if (lastCallMs === null || lastCallMs < recheckMs / 2 || Date.now() + lastCallMs < due) return;
        readAhead = setTimeout(
          () => {
            readAhead = null;
            // Not when a call's end made a read meanwhile.
            readAheadIfHalfOld();
          },
          Math.max(0, due - Date.now()),
        );
      };
      // `concurrency` workers take the items in order (a plain pool: no per-item queue entry or async
      // resource). An unexpected error stops the chunk (rule 7 above).
      let next = 0;
      let draining = false;
      const worker = async (): Promise<void> => {
        while (!failure && next < items.length) {
          try {
            await transfer(next++);
          } catch (error) {
            failure ??= { error };
          }
        }
        // The first worker to run out of items: every item has started, so write the outcomes buffered
        // so far while the last calls are out; only theirs are left for the statement the caller awaits.
        if (!draining && items.length > concurrency) {
          draining = true;
          flush();
        }
      };
      const workers: Array<Promise<void>> = [];
      for (let w = Math.min(concurrency, items.length); w > 0; w--) workers.push(worker());
      try {
        await Promise.all(workers);
      } finally {
        poolDone = true;
        if (readAhead) clearTimeout(readAhead);
        if (lastCallMs !== null && items.length > 1) lastCallMsOf.set(ctx.connectionId, lastCallMs);
      }
      if (failure) {
        // Items whose intent was written ahead and whose call never started: `not_sent` now, so only
        // calls that started and got no answer are left for the recovery job (as `unknown`).
        await Promise.all(intentWrites.values());
        await Promise.all([...intentWrites.keys()].filter((i) => !started[i] && !results[i]).map((i) => notSent(i, 'chunk_failed')));
        throw (failure as { error: unknown }).error;
      }
      // Only an intent write can fail here (perform's errors are outcomes): the calls after it were not
      // made; the calls that were made have their outcome rows (see the caller).
      if (intentFailure) throw (intentFailure as { error: unknown }).error;
      return results;
    }
  }

  return {
    log,
    sendMany,
    async send(ctx, item, perform) {
      const [result] = await sendMany(ctx, [item], (minimised) => perform(minimised), { concurrency: 1 });
      return result!;
    },
    async record(ctx, item, details) {
      // A lease like any transfer's, so a revocation waits for this row too (none lands after it).
      const leaseId = randomUUID();
      const lease = leaseAndEpoch(ctx.connectionId, leaseId);
      if (details.proceed) {
        // The caller's check runs alongside the lease registration; declined (or failed), nothing is
        // written and the lease is released once registered.
        lease.catch(() => undefined);
        const drop = () =>
          lease.then(
            () => void releaseLease(ctx.connectionId, leaseId),
            () => undefined,
          );
        let go: boolean;
        try {
          go = await details.proceed;
        } catch (err) {
          await drop();
          throw err;
        }
        if (!go) {
          await drop();
          return { outcome: 'failed', error: new TransferNotSentError('caller_declined'), transferId: randomUUID(), logged: 'not_sent' };
        }
      }
      const epoch = await lease;
      try {
        const state = await stateFor(ctx.connectionId, epoch);
        // (A polled feed's 304 names no addressee and, unless its consent is scoped by practice area, no
        // case to look up: it skips both awaits.)
        const suppressed = item.recipient.suppressible ? (await suppressedRecipients(db, state.attribution, [item])).has(0) : false;
        const scopedByArea = state.consent.kind === 'current' && state.consent.consent.caseScope.kind === 'practice_areas';
        const decision = decideTransfer({
          connection: state.connection,
          consent: state.consent,
          item,
          purpose: ctx.purpose,
          suppressed,
          practiceAreas: scopedByArea ? await practiceAreasFor(db, state, [item]) : undefined,
        });
        const row = baseEntry(ctx, item, decision, state.attribution, new Date(), freezeDeep(actorRecord(ctx.actor)));
        if (!row) {
          warnUnknownConnection(ctx);
          return { outcome: 'blocked', reason: decision.allowed ? 'connection_not_active' : decision.reason, transferId: randomUUID() };
        }
        if (!decision.allowed) {
          await log.append([row]);
          count(state.attribution, item, 'blocked');
          return { outcome: 'blocked', reason: decision.reason, transferId: row.id };
        }
        // The answer waits for its row's commit: a fetch answered without its row would be a transfer
        // the log cannot show. Concurrent requests' rows share the writer's group commit (one
        // statement); a row that cannot be written fails the request (the client asks again).
        try {
          const notModified = {
            ...row,
            outcome: 'not_modified' as const,
            fieldNames: [],
            payloadSha256: null,
            payloadBytes: 0,
            providerStatus: details.providerStatus,
          };
          await log.append([notModified], { check: details.check });
        } catch (err) {
          // The feed the answer was decided on changed (or died) first: no row, no answer from it.
          if (err instanceof FeedCheckFailedError) {
            return { outcome: 'failed', error: new TransferNotSentError('feed_changed'), transferId: row.id, logged: 'not_sent' };
          }
          throw err;
        }
        count(state.attribution, item, 'not_modified');
        return { outcome: 'sent', value: null, transferId: row.id };
      } finally {
        void releaseLease(ctx.connectionId, leaseId);
      }
    },
    countHit: (key, windowMs) => leases.count(key, windowMs),
    async settled() {
      await log.idle();
      await leases.idle();
    },
    invalidate(connectionId) {
      if (connectionId) cache.delete(connectionId);
      else cache.clear();
    },
  };
}

/**
 * Indices of the items whose recipient opted out: `recipient.suppressible` items whose address is on
 * the organization's suppression list (one query per gate call, none when no item is suppressible).
 */
async function suppressedRecipients(db: Db, connection: GateConnection | null, items: TransferItem[]): Promise<Set<number>> {
  const out = new Set<number>();
  const addressOf = (item: TransferItem) => (item.recipient.suppressible && item.recipient.account ? item.recipient.account.trim().toLowerCase() : null);
  const addresses = [...new Set(items.map(addressOf).filter((a): a is string => !!a))];
  if (!addresses.length || !connection) return out;
  const rows = await db
    .selectFrom('invitation_suppressions')
    .select('email')
    .where('organization_id', '=', connection.organizationId)
    .where('email', 'in', addresses)
    .execute();
  const listed = new Set(rows.map((r) => r.email));
  items.forEach((item, i) => {
    const a = addressOf(item);
    if (a && listed.has(a)) out.add(i);
  });
  return out;
}

function abortReason(signal: AbortSignal): string {
  const r = signal.reason as { code?: unknown } | string | undefined;
  if (typeof r === 'string' && /^[a-z_]{1,60}$/.test(r)) return r;
  if (r && typeof r === 'object' && typeof r.code === 'string' && /^[a-z_]{1,60}$/.test(r.code)) return r.code;
  return 'chunk_aborted';
}

function mergeSubjects(a: TransferItem['subjects'], b: TransferItem['subjects']): TransferItem['subjects'] {
  const out: Record<string, string[]> = {};
  for (const src of [a, b]) {
    for (const [k, v] of Object.entries(src)) if (v) out[k] = [...(out[k] ?? []), ...v];
  }
  return out;
}

function count(connection: GateConnection | null, item: TransferItem, outcome: string): void {
  transfersTotal.inc({ platform: connection?.platform ?? 'unknown', direction: item.direction ?? 'outbound', outcome });
}

/** One frozen record for every feed fetch, so the log's canonical JSON of it is computed once per process. */
const FEED_FETCH_ACTOR: Readonly<Record<string, unknown>> = freezeDeep({ kind: 'feed_fetch' });

function actorRecord(actor: TransferActor): Record<string, unknown> {
  // The feed requester's address is kept in its own columns; the actor keeps only who it was.
  if (actor.kind === 'feed_fetch') return FEED_FETCH_ACTOR;
  return { ...actor };
}

/** The intent (allowed) or blocked row of one item; null when there is no organization to log under. */
function baseEntry(
  ctx: TransferContext,
  item: TransferItem,
  decision: Decision,
  connection: GateConnection | null,
  now: Date,
  actor: Record<string, unknown>,
): TransferLogEntry | null {
  if (!connection) return null;
  // The canonical JSON of the minimised fields = that of the item's fields picked by the released
  // names (minimisation copies the values by reference). Memoised when the item's fields are deeply
  // frozen, as a cached iCal feed's are: its 2.5 MB of columns are hashed once, not on every fetch.
  const payload = decision.allowed ? canonicalDigest(item.fields, decision.fieldNames) : null;
  const feed = ctx.actor.kind === 'feed_fetch' ? ctx.actor : null;
  return {
    id: randomUUID(),
    organizationId: connection.organizationId,
    direction: item.direction ?? 'outbound',
    userId: connection.userId,
    connectionId: connection.id,
    platform: connection.platform,
    recipientAccount: cleanText(item.recipient.account ?? connection.externalAccount, 500),
    recipientDestination: cleanText(item.recipient.destination, 1000),
    subjects: normaliseSubjects(item.subjects),
    categories: decision.categories,
    fieldNames: decision.fieldNames,
    purpose: cleanText(ctx.purpose, 200)!,
    consentId: decision.consent?.id ?? null,
    consentVersion: decision.consent?.version ?? null,
    payloadSha256: payload?.sha256 ?? null,
    payloadBytes: payload?.bytes ?? null,
    actor,
    operation: item.operation,
    itemKey: cleanText(item.itemKey ?? null, 1000),
    intentId: null,
    outcome: decision.allowed ? 'intent' : 'blocked',
    providerStatus: null,
    remoteId: null,
    durationMs: null,
    reason: decision.allowed ? null : decision.reason,
    errorClass: null,
    errorMessage: null,
    requesterIp: cleanText(feed?.ip ?? null, 100),
    requesterUserAgent: cleanText(feed?.userAgent ?? null, 500),
    createdAt: now,
  };
}
