import { sql } from 'kysely';
import { currentConsent } from '../consent/service.ts';
import type { Services } from '../services.ts';
import { type BlockReason, TransferBlockedError, type TransferActor } from '../transfers/types.ts';
import type { Connector, ConnectorSync, CurrentItem, StepResult, SyncConnection, SyncContext } from '../../connectors/types.ts';
import { chunk, detectDrift, planReconcile } from './diff.ts';
import { type SyncProgress, ProgressReporter } from './progress.ts';
import { recordChunk, StateWriter } from './state-writer.ts';
import {
  PermanentRunError,
  ProviderStepError,
  RateLimitedRunError,
  RunInterruptedError,
  TransientRunError,
} from './errors.ts';

/**
 * The generic, level-triggered reconcile of one connection:
 *
 *   desired = connector.desired(case data ∩ consent)     (content hashes)
 *   current = sync_state                                 (+ remote listing on a full reconcile)
 *   plan    = planReconcile(desired, current)            (pure, diff.ts)
 *   apply the plan in chunks through the gate, writing each chunk's results to sync_state before
 *   the next one, so a crash resumes where it stopped and a run with nothing to do calls nobody.
 *
 * Item failures are classified by the connector and acted on here: rate-limited → the run stops and
 * asks to be delayed (the worker is not blocked); auth → one token refresh and one retry; transient
 * → the rest continues, then the run asks for a retry with backoff; permanent → recorded per item
 * and skipped until the item changes. Knows no provider: everything provider-specific comes from
 * the connector.
 */

/** The token operations the engine needs (see src/connections/token-refresh.ts). */
export interface EngineTokens {
  lease(connectionId: string): Promise<{ accessToken: string; refreshAt: number }>;
  refreshAfterRejection(connectionId: string, stale: string): Promise<string>;
}

/** The rate limiter operations the engine needs (see queues/rate-limit.ts). */
export interface EngineLimiter {
  readonly maxPerAcquire: number;
  acquire(account: string, points: number): Promise<{ ok: true } | { ok: false; waitMs: number }>;
  charge(account: string, points: number): Promise<void>;
  pause(account: string, ms: number): Promise<void>;
}

export type { SyncProgress } from './progress.ts';

export interface ReconcileDeps {
  services: Services;
  connector: Connector & { sync: ConnectorSync };
  tokens: EngineTokens;
  limiter: EngineLimiter;
  actor: TransferActor;
  /** Moves the connection to reauth_required (and cancels its jobs). */
  onReauthRequired(connectionId: string, message: string): Promise<void>;
  onProgress?(progress: SyncProgress): Promise<void>;
  /** Checked between chunks: true when the worker is shutting down. */
  shouldStop?(): boolean;
  chunkSize?: number;
  concurrency?: number;
  /** Limiter waits up to this long happen in place; longer ones delay the job. */
  maxInlineWaitMs?: number;
}

export type ReconcileResult =
  | { status: 'done'; progress: SyncProgress }
  | { status: 'skipped'; reason: string };

const STOP_REASONS: ReadonlySet<BlockReason> = new Set([
  'connection_not_active',
  'connection_revoked',
  'consent_missing',
  'consent_withdrawn',
  'platform_disabled',
]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The connection as the engine needs it, or null when it no longer exists. */
export async function loadSyncConnection(
  services: Services,
  connectionId: string,
): Promise<(SyncConnection & { status: string; lastFullSyncAt: Date | null }) | null> {
  const row = await services.db
    .selectFrom('connections as c')
    .innerJoin('users as u', 'u.id', 'c.user_id')
    .select(['c.id', 'c.organization_id', 'c.user_id', 'u.email', 'c.platform', 'c.status', 'c.external_account', 'c.settings', 'c.last_full_sync_at'])
    .where('c.id', '=', connectionId)
    .executeTakeFirst();
  if (!row) return null;
  return {
    id: row.id,
    organizationId: row.organization_id,
    userId: row.user_id,
    userEmail: row.email,
    platform: row.platform,
    status: row.status,
    externalAccount: row.external_account,
    settings: row.settings ?? {},
    lastFullSyncAt: row.last_full_sync_at,
  };
}

/** Runs one reconcile of a connection. Throws the run-level errors of `errors.ts` for the queue to act on. */
export async function reconcileConnection(deps: ReconcileDeps, params: { connectionId: string; reason: string; jobId?: string }): Promise<ReconcileResult> {
  const { services, connector, limiter } = deps;
  const { db, config } = services;
  const sync = connector.sync;
  // Independent reads in parallel: every serial round trip is latency a busy worker pays per job.
  const [connection, consent, stateRows, failedRows, leased] = await Promise.all([
    loadSyncConnection(services, params.connectionId),
    currentConsent(db, params.connectionId),
    db.selectFrom('sync_state').select(['item_key', 'remote_id', 'hash', 'etag', 'case_id']).where('connection_id', '=', params.connectionId).execute(),
    db.selectFrom('sync_item_errors').select(['item_key', 'hash']).where('connection_id', '=', params.connectionId).execute(),
    // The worker checked the connection is active just before; a lease for one that stopped being
    // active meanwhile is simply dropped below.
    deps.tokens.lease(params.connectionId).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
  ]);
  if (!connection) return { status: 'skipped', reason: 'connection_missing' };
  if (connection.status !== 'active') return { status: 'skipped', reason: `connection_${connection.status}` };
  if (!consent) return { status: 'skipped', reason: 'no_consent' };
  if (!leased.ok) throw leased.error;
  const account = connection.externalAccount ?? connection.id;

  let lease = leased.value;
  const ctx: SyncContext = {
    services,
    connection,
    consent,
    accessToken: lease.accessToken,
    actor: deps.actor,
  };
  const intervalMs = config.FULL_RECONCILE_INTERVAL_MINUTES * 60_000;
  const full =
    Boolean(sync.listRemote) &&
    (params.reason === 'full' || !connection.lastFullSyncAt || Date.now() - connection.lastFullSyncAt.getTime() >= intervalMs * 0.9);

  const progress: SyncProgress = {
    state: 'running',
    reason: params.reason,
    full,
    startedAt: new Date().toISOString(),
    planned: { create: 0, update: 0, delete: 0 },
    done: { created: 0, updated: 0, deleted: 0, failed: 0, blocked: 0 },
    unchanged: 0,
    skipped: 0,
    remaining: 0,
    providerCalls: 0,
    ...(params.jobId ? { jobId: params.jobId } : {}),
  };
  const reporter = new ProgressReporter({
    write: async (snapshot) => {
      await db.updateTable('connections').set({ sync_progress: JSON.stringify(snapshot) }).where('id', '=', connection.id).execute();
      await deps.onProgress?.(snapshot);
    },
    onError: (err) => services.logger.debug({ err, connectionId: connection.id }, 'progress not recorded'),
  });
  const report = (throttle = false): Promise<void> => reporter.report(progress, throttle);
  const state = new StateWriter();

  let refreshedThisRun = false;
  /** One refresh per run after a 401; a second 401 is transient (the provider may be flapping). */
  const refreshAfter401 = async (): Promise<boolean> => {
    if (refreshedThisRun) return false;
    refreshedThisRun = true;
    ctx.accessToken = await deps.tokens.refreshAfterRejection(connection.id, ctx.accessToken);
    lease = await deps.tokens.lease(connection.id);
    return true;
  };

  /** Acquires limiter budget for `points` requests, waiting in place for short waits only. */
  const acquire = async (points: number) => {
    for (;;) {
      const got = await limiter.acquire(account, points);
      if (got.ok) return;
      if (got.waitMs > (deps.maxInlineWaitMs ?? 3000)) throw new RateLimitedRunError(got.waitMs, 'limiter');
      await sleep(got.waitMs + Math.floor(Math.random() * 50));
    }
  };

  /** Runs a connector step (provisioning, listing) with the run-level error handling. */
  const step = async <T>(fn: () => Promise<T & { calls: number }>): Promise<T & { calls: number }> => {
    for (;;) {
      try {
        // Few calls (0 when there is nothing to provision): charged after the fact, not reserved.
        const r = await fn();
        progress.providerCalls += r.calls;
        await limiter.charge(account, r.calls);
        return r;
      } catch (err) {
        if (err instanceof TransferBlockedError) throw err;
        if (!(err instanceof ProviderStepError)) throw err;
        const c = err.errorClass;
        if (c.kind === 'auth_failed' && !c.reauthRequired && (await refreshAfter401())) continue;
        throw runError(c, err.message);
      }
    }
  };

  const runError = (c: StepResultError, message: string): Error => {
    if (c.kind === 'rate_limited') return new RateLimitedRunError(c.retryAfterMs ?? 0, 'provider');
    if (c.kind === 'auth_failed' && c.reauthRequired) return new PermanentRunError('reauth_required', message);
    if (c.kind === 'permanent') return new PermanentRunError(c.code ?? 'provider_refused', message);
    return new TransientRunError(message);
  };

  try {
    // 1. The destination the connector writes into exists; settings learned are kept.
    const prepared = await step(() => sync.prepare(ctx, { verify: full }));
    if (prepared.settings && Object.keys(prepared.settings).length) {
      ctx.connection.settings = { ...ctx.connection.settings, ...prepared.settings };
      await db
        .updateTable('connections')
        .set({ settings: sql`settings || ${JSON.stringify(prepared.settings)}::jsonb`, updated_at: new Date() })
        .where('id', '=', connection.id)
        .execute();
    }
    if (prepared.reset) {
      await db.deleteFrom('sync_state').where('connection_id', '=', connection.id).execute();
      await db.deleteFrom('sync_item_errors').where('connection_id', '=', connection.id).execute();
    }

    // 2. Desired vs current (vs remote, on a full reconcile) → plan.
    const desired = await sync.desired({ services, connection: ctx.connection, consent });
    const current: CurrentItem[] = prepared.reset
      ? []
      : stateRows.map((r) => ({ key: r.item_key, remoteId: r.remote_id, hash: r.hash, etag: r.etag, caseId: r.case_id }));
    const failed = new Map(prepared.reset ? [] : failedRows.map((r) => [r.item_key, r.hash]));
    let drift: ReturnType<typeof detectDrift> | undefined;
    if (full && sync.listRemote) {
      const remote = await step(() => sync.listRemote!(ctx));
      drift = detectDrift(current, remote.items);
    }
    const plan = planReconcile({ desired, current, failed, drift, restoreDrift: sync.driftPolicy(ctx.connection.settings) === 'restore' });
    progress.planned = {
      create: plan.steps.filter((s) => s.op === 'create').length,
      update: plan.steps.filter((s) => s.op === 'update').length,
      delete: plan.steps.filter((s) => s.op === 'delete').length,
    };
    progress.unchanged = plan.unchanged;
    progress.skipped = plan.skipped.length;
    progress.remaining = plan.steps.length;
    void report();

    // Errors of items that are no longer wanted are moot.
    const desiredKeys = new Set(desired.map((d) => d.key));
    const staleErrors = [...failed.keys()].filter((k) => !desiredKeys.has(k));
    for (const k of staleErrors) failed.delete(k);
    if (staleErrors.length) {
      await db.deleteFrom('sync_item_errors').where('connection_id', '=', connection.id).where('item_key', 'in', staleErrors).execute();
    }

    // 3. Apply in chunks; persist each chunk before the next.
    const size = Math.max(1, Math.min(deps.chunkSize ?? 50, limiter.maxPerAcquire));
    // The manifest's per-account concurrency is a provider limit: a worker option may lower it, never raise it.
    const allowed = connector.manifest.rateBudgets?.perAccount?.concurrency ?? 8;
    const concurrency = Math.max(1, Math.min(deps.concurrency ?? allowed, allowed));
    let transientFailures = 0;
    let lastTransient = '';
    for (const part of chunk(plan.steps, size)) {
      // A connection that stopped being active (revoked, reauth_required) is refused by the gate,
      // which re-reads the connection's revocation epoch on every call: the run then stops below.
      if (deps.shouldStop?.()) throw new RunInterruptedError();
      // Long runs outlive short-lived tokens: refresh ahead of expiry between chunks (single flight).
      if (Date.now() >= lease.refreshAt) {
        lease = await deps.tokens.lease(connection.id);
        if (lease.accessToken !== ctx.accessToken) {
          ctx.accessToken = lease.accessToken;
          refreshedThisRun = false;
        }
      }
      await acquire(part.length);
      let results = await sync.apply(ctx, part, { concurrency });
      const authFailed = results.filter((r) => r.outcome === 'failed' && r.error.kind === 'auth_failed');
      const reauth = authFailed.find((r) => r.outcome === 'failed' && r.error.kind === 'auth_failed' && r.error.reauthRequired);
      if (reauth && reauth.outcome === 'failed') {
        state.enqueue(recordChunk(db, connection.id, part, results, progress, failed));
        await state.flush();
        await deps.onReauthRequired(connection.id, 'Casebridge is no longer allowed to write to this account. Reconnect it to resume syncing.');
        throw new PermanentRunError('reauth_required', reauth.error.message);
      }
      if (authFailed.length && (await refreshAfter401())) {
        const retryKeys = new Set(authFailed.map((r) => r.key));
        const retrySteps = part.filter((s) => retryKeys.has(s.key));
        await acquire(retrySteps.length);
        const retried = await sync.apply(ctx, retrySteps, { concurrency });
        const byKey = new Map(retried.map((r) => [r.key, r]));
        results = results.map((r) => (retryKeys.has(r.key) ? (byKey.get(r.key) ?? r) : r));
      }
      const calls = results.reduce((n, r) => n + r.calls, 0);
      progress.providerCalls += calls;
      if (calls > part.length) await limiter.charge(account, calls - part.length);
      // Results are recorded now (in memory) and written while the next chunk is on its way; every
      // exit below waits for the writes, so a delayed or failed run has saved what it did.
      state.enqueue(recordChunk(db, connection.id, part, results, progress, failed));

      const stop = results.find((r) => r.outcome === 'blocked' && STOP_REASONS.has(r.reason));
      if (stop) {
        await state.flush();
        await report();
        return { status: 'skipped', reason: `blocked_${stop.outcome === 'blocked' ? stop.reason : ''}` };
      }
      if (results.some((r) => r.outcome === 'blocked')) {
        // The consent changed between projection and sending: re-plan under the new consent.
        throw new TransientRunError('consent changed during the run; re-planning');
      }
      const limited = results.filter((r): r is Extract<StepResult, { outcome: 'failed' }> => r.outcome === 'failed' && r.error.kind === 'rate_limited');
      if (limited.length) {
        const waits = limited.map((r) => (r.error.kind === 'rate_limited' ? (r.error.retryAfterMs ?? 0) : 0));
        const wait = Math.max(...waits);
        if (wait > 0) await limiter.pause(account, wait);
        throw new RateLimitedRunError(wait, 'provider');
      }
      if (results.some((r) => r.outcome === 'failed' && r.error.code === 'destination_missing')) {
        // Make the next run verify (and re-create) the destination.
        await db.updateTable('connections').set({ last_full_sync_at: null }).where('id', '=', connection.id).execute();
        throw new TransientRunError(`the destination at ${connector.manifest.displayName} is missing; it is checked again on the next attempt`);
      }
      for (const r of results) {
        if (r.outcome === 'failed' && (r.error.kind === 'transient' || r.error.kind === 'auth_failed')) {
          transientFailures += 1;
          lastTransient = r.error.message;
        }
      }
      void report(true);
      // A chunk that failed entirely says the provider is down: stop early, retry later.
      if (results.length && results.every((r) => r.outcome === 'failed' && (r.error.kind === 'transient' || r.error.kind === 'auth_failed'))) {
        throw new TransientRunError(lastTransient || 'provider unavailable');
      }
    }
    if (transientFailures) throw new TransientRunError(`${transientFailures} item(s) failed transiently: ${lastTransient}`);

    // 4. Done: state written, then the summary (after any progress write still on its way).
    await state.flush();
    await reporter.flush();
    const itemErrors = failed.size;
    progress.state = 'idle';
    progress.finishedAt = new Date().toISOString();
    progress.remaining = 0;
    const now = new Date();
    await db
      .updateTable('connections')
      .set({
        sync_progress: JSON.stringify(progress),
        last_sync_at: now,
        ...(full ? { last_full_sync_at: now } : {}),
        last_error: JSON.stringify(
          itemErrors
            ? {
                code: 'items_failed',
                message: `${itemErrors} item(s) could not be written to ${connector.manifest.displayName}; they are retried when they change.`,
                at: now.toISOString(),
              }
            : null,
        ),
      })
      .where('id', '=', connection.id)
      .execute();
    await deps.onProgress?.(progress);
    return { status: 'done', progress };
  } catch (caught) {
    let err = caught;
    // What the run did is saved before it gives up or waits (a failed write makes the run transient).
    await state.flush().catch((e: unknown) => {
      err = new TransientRunError(`sync state could not be saved: ${e instanceof Error ? e.message : String(e)}`);
    });
    // The gate refused a provisioning or listing step (and logged it): nothing to retry until the
    // connection or consent changes, which enqueues a new run.
    if (err instanceof TransferBlockedError) {
      progress.state = 'idle';
      progress.message = `stopped: the gate refused (${err.reason})`;
      await report();
      return { status: 'skipped', reason: `blocked_${err.reason}` };
    }
    progress.state = err instanceof RateLimitedRunError || err instanceof RunInterruptedError ? 'waiting' : 'failed';
    progress.message = err instanceof Error ? err.message : String(err);
    await report();
    throw err;
  }
}

type StepResultError = Extract<StepResult, { outcome: 'failed' }>['error'];
