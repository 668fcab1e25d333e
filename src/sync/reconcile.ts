import type { Connector, ConnectorSync, PlanStep, StepResult, SyncConnection, SyncContext } from '../../connectors/types.ts';
import { currentConsent } from '../consent/service.ts';
import type { Services } from '../services.ts';
import { type TransferActor, TransferBlockedError } from '../transfers/types.ts';
import { applyChunk, type SortedChunk, USAGE_LIMIT } from './apply-chunk.ts';
import { PermanentRunError, ProviderStepError, RateLimitedRunError, RunInterruptedError, TransientRunError } from './errors.ts';
import { loadRemembered, planRun } from './plan.ts';
import { ProgressReporter, type SyncProgress } from './progress.ts';
import { recordChunk, StateWriter } from './state-writer.ts';

/**
 * The generic, level-triggered reconcile of one connection, in four pieces:
 *
 *   plan      (plan.ts)         desired = connector.desired(case data ∩ consent), current = sync_state
 *                               (+ remote listing on a full reconcile), steps = the pure diff (diff.ts)
 *   apply     (apply-chunk.ts)  a chunk of steps through the connector and the gate, its results sorted
 *   progress  (progress.ts)     throttled snapshots for people
 *   state     (state-writer.ts) what was written goes to sync_state, in the background, flushed on every exit
 *
 * This file runs them. The steps form one queue that a few lanes drain in chunks; a lane makes up to
 * four calls at once (one gate call per chunk, whose calls share its revocation-epoch reads), each
 * call under a per-account slot shared by every worker (the manifest's `concurrency`; a lane holds
 * its slots while it has chunks to send). The lanes together make `concurrency` calls at once. So
 * faults do not stall a run:
 * - a slow call holds only its own place in its lane: the lane's other calls go on; when all of them
 *   are out for {@link ReconcileDeps.slowCallMs}, the steps not yet started in its chunk are handed
 *   back (never sent) and the other lanes take them;
 * - a 429 stops new calls of the account at once (every lane's chunk, and every worker through the
 *   shared limiter) while calls already allowed finish; after Retry-After the run goes on with the
 *   steps it had not sent — without re-planning — or, for a wait longer than
 *   {@link ReconcileDeps.maxInlineWaitMs}, the job is delayed and the next run resumes from sync_state.
 *
 * Other item failures are classified by the connector and acted on here: auth → one token refresh and
 * the steps again; transient → a provider error answer (5xx) is sent once more at the end of the run's
 * queue; what still failed, and calls without an answer (timeouts: they may land late), make the run
 * ask for a retry with backoff once the rest is done;
 * permanent → recorded per item and skipped until the item changes. Knows no provider.
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
  /** A usage limit: pauses the account for `baseMs`, doubled per repeat since the last successful write; the pause from now. */
  usageLimited(account: string, baseMs: number): Promise<number>;
  /** A write succeeded: the next usage limit starts from the base pause again. */
  usageCleared(account: string): Promise<boolean>;
}

/** The per-account concurrency slots the engine needs (see queues/concurrency-limit.ts). */
export interface EngineSlots {
  /** Up to `want` slots taken together (as many as are free, at least one), given back together. */
  tryAcquire(account: string, want: number): Promise<{ ok: true; slot: HeldSlots } | { ok: false; waitMs: number }>;
}

/** Per-account slots a lane holds: how many calls it may make at once, and how to give them back. */
interface HeldSlots {
  readonly count: number;
  release(): Promise<void>;
}

export type { SyncProgress } from './progress.ts';

export interface ReconcileDeps {
  services: Services;
  connector: Connector & { sync: ConnectorSync };
  tokens: EngineTokens;
  limiter: EngineLimiter;
  /** Shared per-account concurrency slots; absent = the lanes of this run are the only limit. */
  slots?: EngineSlots;
  actor: TransferActor;
  /** Moves the connection to reauth_required (and cancels its jobs). */
  onReauthRequired(connectionId: string, message: string): Promise<void>;
  onProgress?(progress: SyncProgress): Promise<void>;
  /** Checked between chunks: true when the worker is shutting down. */
  shouldStop?(): boolean;
  /** Steps per sync_state write (and the upper bound of a lane's chunk). Default 50. */
  chunkSize?: number;
  /** Calls at once (over the run's lanes); never more than the manifest's per-account `concurrency`. */
  concurrency?: number;
  /** Limiter, slot and Retry-After waits up to this long happen in place; longer ones delay the job. */
  maxInlineWaitMs?: number;
  /** A lane whose chunk started no call for this long hands its unstarted steps to the other lanes. Default 2 s. */
  slowCallMs?: number;
}

export type ReconcileResult = { status: 'done'; progress: SyncProgress } | { status: 'skipped'; reason: string };

/** How a run ends early: an error for the queue to act on, or a stop with nothing to retry. */
type RunStop = { kind: 'error'; error: Error } | { kind: 'skipped'; reason: string };

/** In-run pauses after "slow down" before the job is delayed instead. */
const MAX_INLINE_PAUSES = 5;
/** Calls one lane makes at once (its gate call's concurrency). */
const MAX_CALLS_PER_LANE = 4;
/** Times a step may be handed back unsent before it counts as a transient failure. */
const MAX_HAND_BACKS = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise and the function that resolves it (idempotent). */
function settledOnce(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

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

/** The connection as {@link loadSyncConnection} returns it. */
export type LoadedSyncConnection = NonNullable<Awaited<ReturnType<typeof loadSyncConnection>>>;

/** Runs one reconcile of a connection. Throws the run-level errors of `errors.ts` for the queue to act on. */
export async function reconcileConnection(
  deps: ReconcileDeps,
  params: {
    connectionId: string;
    reason: string;
    jobId?: string;
    /**
     * The connection, when the caller has just loaded it under the run lock (the sync worker reads it
     * to pick the connector): not read a second time. Never a copy read before the lock — settings
     * such as the remote container a connector provisioned may be written by the run that held it.
     */
    connection?: LoadedSyncConnection;
  },
): Promise<ReconcileResult> {
  const { services, connector } = deps;
  const { db, config } = services;
  const sync = connector.sync;
  // Independent reads in parallel: every serial round trip is latency a busy worker pays per job.
  const [connection, consent, remembered, leased] = await Promise.all([
    params.connection ?? loadSyncConnection(services, params.connectionId),
    currentConsent(db, params.connectionId),
    loadRemembered(db, params.connectionId),
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

  const ctx: SyncContext = { services, connection, consent, accessToken: leased.value.accessToken, actor: deps.actor };
  const tokens = new RunTokens(deps.tokens, ctx, leased.value.refreshAt);
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
  const reporter = new ProgressReporter(
    {
      write: async (snapshot) => {
        await db
          .updateTable('connections')
          .set({ sync_progress: JSON.stringify(snapshot) })
          .where('id', '=', connection.id)
          .execute();
        await deps.onProgress?.(snapshot);
      },
      onError: (err) => services.logger.debug({ err, connectionId: connection.id }, 'progress not recorded'),
    },
    { quietStart: true },
  );
  const report = (throttle = false): Promise<void> => reporter.report(progress, throttle);
  const state = new StateWriter();
  const account = connection.externalAccount ?? connection.id;

  /** Runs a connector step (provisioning, listing) with the run-level error handling. */
  const providerStep = async <T>(fn: () => Promise<T & { calls: number }>): Promise<T & { calls: number }> => {
    for (;;) {
      try {
        // Few calls (0 when there is nothing to provision): charged after the fact, not reserved.
        const r = await fn();
        progress.providerCalls += r.calls;
        await deps.limiter.charge(account, r.calls);
        return r;
      } catch (err) {
        if (!(err instanceof ProviderStepError)) throw err;
        const c = err.errorClass;
        if (c.kind === 'auth_failed' && !c.reauthRequired && (await tokens.refreshAfter401())) continue;
        if (c.kind === 'rate_limited' && c.code === USAGE_LIMIT) {
          throw new RateLimitedRunError(await deps.limiter.usageLimited(account, c.retryAfterMs ?? 0), 'provider');
        }
        if (c.kind === 'rate_limited') throw new RateLimitedRunError(c.retryAfterMs ?? 0, 'provider');
        if (c.kind === 'auth_failed' && c.reauthRequired) throw new PermanentRunError('reauth_required', err.message);
        if (c.kind === 'permanent') throw new PermanentRunError(c.code ?? 'provider_refused', err.message);
        throw new TransientRunError(err.message);
      }
    }
  };

  try {
    const plan = await planRun({
      db,
      sync,
      ctx,
      full,
      remembered,
      providerStep,
    });
    progress.planned = plan.planned;
    progress.unchanged = plan.unchanged;
    progress.skipped = plan.skipped;
    progress.remaining = plan.steps.length;
    // Throttled like the snapshots after each chunk: the first is written a second into the run, so a
    // short run (most of them) costs one progress write, its summary, rather than a start and an end.
    void report(true);

    const applied = await new PlanRunner({ deps, ctx, account, tokens, state, progress, report, failed: plan.failed }).run(plan.steps);
    if (applied) {
      await state.flush();
      await report();
      return applied;
    }

    // Done: state written, then the summary (after any progress write still on its way).
    await state.flush();
    await reporter.flush();
    const itemErrors = plan.failed.size;
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

/** The run's access token: refreshed ahead of expiry between chunks (single flight), and once after a 401. */
class RunTokens {
  private refreshed = false;
  private renewing: Promise<void> | null = null;

  constructor(
    private readonly tokens: EngineTokens,
    private readonly ctx: SyncContext,
    private refreshAt: number,
  ) {}

  /** Long runs outlive short-lived tokens: a fresh one before the next chunk when this one is due. */
  async fresh(): Promise<void> {
    if (Date.now() < this.refreshAt) return;
    this.renewing ??= (async () => {
      const lease = await this.tokens.lease(this.ctx.connection.id);
      this.refreshAt = lease.refreshAt;
      if (lease.accessToken !== this.ctx.accessToken) {
        this.ctx.accessToken = lease.accessToken;
        this.refreshed = false;
      }
    })().finally(() => {
      this.renewing = null;
    });
    await this.renewing;
  }

  /** One refresh per run after a 401; a second 401 is transient (the provider may be flapping). */
  async refreshAfter401(): Promise<boolean> {
    // Lanes answered 401 together share the one refresh.
    if (this.renewing) {
      await this.renewing;
      return true;
    }
    if (this.refreshed) return false;
    this.refreshed = true;
    this.renewing = (async () => {
      this.ctx.accessToken = await this.tokens.refreshAfterRejection(this.ctx.connection.id, this.ctx.accessToken);
      this.refreshAt = (await this.tokens.lease(this.ctx.connection.id)).refreshAt;
    })().finally(() => {
      this.renewing = null;
    });
    await this.renewing;
    return true;
  }
}

/**
 * Drains a plan's steps with lanes (see the file comment). Returns a `skipped` result when the gate
 * stopped the run for the whole connection, null when every step was applied; throws the run-level
 * errors otherwise. Every exit leaves what was done queued on the state writer.
 */
class PlanRunner {
  private readonly queue: PlanStep[] = [];
  private stopped: RunStop | null = null;
  /** Aborted to stop every lane's chunk at once (a stop of the run); see `pause` for 429s. */
  private readonly runStop = new AbortController();
  private pauseStop = new AbortController();
  private pausedUntil = 0;
  private pauses = 0;
  /** The usage-limit pause being recorded (at most one per run); waited for before the run stops. */
  private usagePause: Promise<void> | null = null;
  /** Whether this run already told the limiter that a write succeeded. */
  private usageCleared = false;
  private readonly handBacks = new Map<string, number>();
  private pending: { steps: PlanStep[]; results: StepResult[] } = { steps: [], results: [] };
  private transient = { count: 0, message: '', consecutive: 0 };
  private slotWaitMs = 0;
  /** Keys of steps already sent once more after a transient failure. */
  private readonly retried = new Set<string>();
  /** Lanes applying a chunk right now. */
  private active = 0;
  private readonly size: number;
  /** Calls at once for the whole run, split over `lanes`. */
  private readonly calls: number;
  private readonly lanes: number;
  /** Resolved when the first lane's first call is about to leave, or that lane's chunk or the lane ended. */
  private readonly firstCall = settledOnce();

  constructor(
    private readonly env: {
      deps: ReconcileDeps;
      ctx: SyncContext;
      account: string;
      tokens: RunTokens;
      state: StateWriter;
      progress: SyncProgress;
      report(throttle?: boolean): Promise<void>;
      failed: Map<string, string>;
    },
  ) {
    const { deps } = env;
    // The manifest's per-account concurrency is a provider limit: a worker option may lower it, never raise it.
    const allowed = deps.connector.manifest.rateBudgets?.perAccount?.concurrency ?? 8;
    this.calls = Math.max(1, Math.min(deps.concurrency ?? allowed, allowed));
    // Few lanes of a few calls each: calls of one gate call share its per-call revocation-epoch reads
    // and its per-chunk work (lease, state, decisions), and a second lane takes what a slow lane hands back.
    this.lanes = this.calls === 1 ? 1 : Math.max(2, Math.ceil(this.calls / MAX_CALLS_PER_LANE));
    const chunkSize = Math.max(1, Math.min(deps.chunkSize ?? 50, deps.limiter.maxPerAcquire));
    this.size = Math.max(1, Math.min(chunkSize, Math.ceil(chunkSize / this.lanes)));
  }

  private get chunkSize(): number {
    return Math.max(1, Math.min(this.env.deps.chunkSize ?? 50, this.env.deps.limiter.maxPerAcquire));
  }

  async run(steps: PlanStep[]): Promise<ReconcileResult | null> {
    this.queue.push(...steps);
    // One lane first, the others once its first call is about to leave (or its chunk ended): by then
    // the gate has loaded the connection's state and consent once for the run, instead of once per lane.
    const first = this.lane(0);
    await this.firstCall.promise;
    await Promise.all([first, ...Array.from({ length: this.lanes - 1 }, (_, k) => this.lane(k + 1))]);
    this.record(true);
    const stop = this.stopped;
    if (stop?.kind === 'skipped') return { status: 'skipped', reason: stop.reason };
    if (stop) throw stop.error;
    // Every lane gave up waiting for a slot that other workers hold: the job waits and resumes.
    if (this.queue.length) throw new RateLimitedRunError(Math.max(1000, this.slotWaitMs), 'limiter');
    if (this.transient.count) throw new TransientRunError(`${this.transient.count} item(s) failed transiently: ${this.transient.message}`);
    return null;
  }

  private stop(stop: RunStop): void {
    this.stopped ??= stop;
    this.runStop.abort('run_stopped');
  }

  /**
   * One lane: takes a chunk from the front of the queue and applies it, sorts the results; until the
   * queue is empty. It holds per-account slots while it has chunks to send (taken once, not per chunk),
   * one per call it makes at once, and gives them back when it waits for handed-back steps or ends.
   */
  private async lane(index: number): Promise<void> {
    const { deps, tokens } = this.env;
    // Lane `index`'s share of the run's calls (the first lanes take the remainder).
    const want = Math.floor(this.calls / this.lanes) + (index < this.calls % this.lanes ? 1 : 0);
    let slots: HeldSlots | null = null;
    const giveBack = async () => {
      const held = slots;
      slots = null;
      await held?.release();
    };
    try {
      while (!this.stopped && (this.queue.length || this.active)) {
        // Another lane's chunk may still hand steps back (a slow call): wait for them rather than end.
        if (!this.queue.length) {
          await giveBack();
          await sleep(20);
          continue;
        }
        // A connection that stopped being active (revoked, reauth_required) is refused by the gate,
        // which re-reads the connection's revocation epoch on every call: the run then stops below.
        if (deps.shouldStop?.()) return this.stop({ kind: 'error', error: new RunInterruptedError() });
        if (!(await this.waitForPause())) return;
        // A pause that begins while this lane waits for its slots, budget or token stops this chunk too.
        const pauseSignal = this.pauseStop.signal;
        slots ??= await this.takeSlots(want);
        if (!slots || this.stopped) return;
        // A fair share of what is left among the lanes not busy with a chunk (this one included), so
        // the last chunks spread over the lanes instead of one lane taking them all while the others
        // idle (20 steps: 10 + 10 at 4 calls each, not 20 at 4) — and without halving the rest on
        // every take, which cut a run's tail into ever smaller chunks, each a gate call with its own
        // lease, budget and log statements (100 steps: 25 + 25 + 25 + 25, not 25 + 25 + 25 + 13 + 6 + 4 + 2).
        const share = Math.ceil(this.queue.length / Math.max(1, this.lanes - this.active));
        const part = this.queue.splice(0, Math.min(this.size, Math.max(slots.count, share)));
        if (!part.length) continue;
        await tokens.fresh();
        if (!(await this.acquire(part.length))) {
          this.queue.unshift(...part);
          return;
        }
        this.active += 1;
        try {
          await this.applyPart(part, slots.count, pauseSignal);
        } finally {
          this.active -= 1;
        }
      }
    } catch (err) {
      this.stop({ kind: 'error', error: err instanceof Error ? err : new Error(String(err)) });
    } finally {
      this.firstCall.resolve();
      await giveBack();
    }
  }

  private async applyPart(part: PlanStep[], concurrency: number, pauseSignal: AbortSignal): Promise<void> {
    const { deps, ctx, account, progress } = this.env;
    // The chunk stops early for a stop of the run, a 429 anywhere in the run, or slow calls: when no
    // call of the chunk started for slowCallMs (every call of the lane is out that long), the steps
    // not started go back to the queue at once, for the other lanes; the gate then skips them here
    // (they never leave from this lane).
    const slowCallMs = deps.slowCallMs ?? 2_000;
    const started = new Set<number>();
    const handedBack = new Set<PlanStep>();
    let lastStart = Date.now();
    const handBackUnstarted = () => {
      for (const [i, step] of part.entries()) if (!started.has(i)) handedBack.add(step);
      this.handBack([...handedBack]);
    };
    const check = (): NodeJS.Timeout =>
      setTimeout(
        () => {
          if (Date.now() - lastStart >= slowCallMs) handBackUnstarted();
          else timer = check();
        },
        Math.max(1, lastStart + slowCallMs - Date.now()),
      );
    let timer = check();
    let signalled = false;
    let sorted: SortedChunk;
    try {
      sorted = await applyChunk(deps.connector.sync, ctx, part, {
        concurrency,
        signal: AbortSignal.any([this.runStop.signal, pauseSignal]),
        onRateLimited: (ms, code) => {
          signalled = true;
          this.pause(ms, code === USAGE_LIMIT);
        },
        beforeSend: (i) => {
          if (handedBack.has(part[i]!)) return 'slow_call';
          started.add(i);
          lastStart = Date.now();
          this.firstCall.resolve();
          return null;
        },
      });
    } finally {
      clearTimeout(timer);
      this.firstCall.resolve();
    }
    sorted.again = sorted.again.filter((s) => !handedBack.has(s));
    progress.providerCalls += sorted.calls;
    if (sorted.calls > part.length) await deps.limiter.charge(account, sorted.calls - part.length);
    if (sorted.rateLimitedMs !== undefined && !signalled) this.pause(sorted.rateLimitedMs, sorted.usageLimited);

    const settled = sorted.settled;
    if (sorted.authFailed.length) {
      if (await this.env.tokens.refreshAfter401()) sorted.again.unshift(...sorted.authFailed.map((a) => a.step));
      else
        for (const a of sorted.authFailed) {
          settled.steps.push(a.step);
          settled.results.push(a.result);
        }
    }
    this.handBack(sorted.again);
    this.settle(this.retryOnce(settled));

    if (sorted.reauth) {
      this.record(true);
      await this.env.state.flush();
      await deps.onReauthRequired(ctx.connection.id, 'Casebridge is no longer allowed to write to this account. Reconnect it to resume syncing.');
      return this.stop({ kind: 'error', error: new PermanentRunError('reauth_required', sorted.reauth.error.message) });
    }
    if (sorted.stop) return this.stop({ kind: 'skipped', reason: `blocked_${sorted.stop}` });
    // The consent changed between projection and sending: re-plan under the new consent.
    if (sorted.consentChanged) return this.stop({ kind: 'error', error: new TransientRunError('consent changed during the run; re-planning') });
    if (sorted.destinationMissing) {
      // Make the next run verify (and re-create) the destination.
      await deps.services.db.updateTable('connections').set({ last_full_sync_at: null }).where('id', '=', ctx.connection.id).execute();
      return this.stop({
        kind: 'error',
        error: new TransientRunError(`the destination at ${deps.connector.manifest.displayName} is missing; it is checked again on the next attempt`),
      });
    }
    // A long streak of transient failures says the provider is down: stop early, retry later.
    if (this.transient.consecutive >= this.chunkSize) {
      return this.stop({ kind: 'error', error: new TransientRunError(this.transient.message || 'provider unavailable') });
    }
    void this.env.report(true);
  }

  /** Steps that did not leave (or were refused with "slow down") go back to the front of the queue, in order. */
  private handBack(steps: PlanStep[]): void {
    const back: PlanStep[] = [];
    for (const s of steps) {
      const n = (this.handBacks.get(s.key) ?? 0) + 1;
      this.handBacks.set(s.key, n);
      if (n <= MAX_HAND_BACKS) back.push(s);
      else
        this.settle({
          steps: [s],
          results: [{ key: s.key, op: s.op, outcome: 'failed', error: { kind: 'transient', message: 'could not be sent (handed back too often)' }, calls: 0 }],
        });
    }
    this.queue.unshift(...back);
  }

  /**
   * A step the provider refused transiently (a 5xx) is sent once more in this run, after the rest of
   * the queue, rather than waiting for the job's retry — safe because every step is idempotent (the
   * level-triggered plan would send it again anyway). Returns the results that stay final.
   */
  private retryOnce(settled: { steps: PlanStep[]; results: StepResult[] }): { steps: PlanStep[]; results: StepResult[] } {
    const kept: { steps: PlanStep[]; results: StepResult[] } = { steps: [], results: [] };
    for (const [i, r] of settled.results.entries()) {
      const step = settled.steps[i]!;
      // Not a call without an answer (a timeout, a lost connection: status null): it may still land at
      // the provider, and a second attempt racing it would blur the read-back that resolves it.
      const answered = r.outcome === 'failed' && r.error.status !== null && r.error.status !== undefined;
      if (r.outcome === 'failed' && r.error.kind === 'transient' && answered && !this.retried.has(step.key)) {
        this.retried.add(step.key);
        this.transient.consecutive += 1;
        this.transient.message = r.error.message;
        this.queue.push(step);
        continue;
      }
      kept.steps.push(step);
      kept.results.push(r);
    }
    return kept;
  }

  /** Final results of this run: counted, and queued for the state writer. */
  private settle(settled: { steps: PlanStep[]; results: StepResult[] }): void {
    this.pending.steps.push(...settled.steps);
    this.pending.results.push(...settled.results);
    for (const r of settled.results) {
      if (r.outcome === 'failed' && (r.error.kind === 'transient' || r.error.kind === 'auth_failed')) {
        this.transient.count += 1;
        this.transient.consecutive += 1;
        this.transient.message = r.error.message;
      } else if (r.outcome === 'done') {
        this.transient.consecutive = 0;
        if (!this.usageCleared) this.clearUsage();
      }
    }
    this.record(false);
  }

  /** Results are counted now and written in the background, a state write per `chunkSize` steps (all at the end). */
  private record(all: boolean): void {
    if (!this.pending.steps.length || (!all && this.pending.steps.length < this.chunkSize)) return;
    const { steps, results } = this.pending;
    this.pending = { steps: [], results: [] };
    const { deps, ctx, progress, failed } = this.env;
    this.env.state.enqueue(recordChunk(deps.services.db, ctx.connection.id, steps, results, progress, failed));
  }

  /**
   * "Slow down": new calls of the account stop now (this run's chunks, and other workers via the limiter).
   * A usage limit's pause is the limiter's, grown on repeats; the run stops once it is known.
   */
  private pause(retryAfterMs: number | null, usageLimit = false): void {
    const ms = retryAfterMs ?? Math.min(30_000, 1000 * 2 ** this.pauses);
    const { deps, account, ctx } = this.env;
    if (usageLimit && !this.usagePause) {
      this.usagePause = deps.limiter.usageLimited(account, ms).then(
        (grown) => {
          this.pausedUntil = Math.max(this.pausedUntil, Date.now() + grown);
        },
        (err: unknown) => deps.services.logger.warn({ err, connectionId: ctx.connection.id }, 'could not record the usage-limit pause'),
      );
    }
    const until = Date.now() + ms;
    if (until <= this.pausedUntil) return;
    this.pauses += 1;
    this.pausedUntil = until;
    this.pauseStop.abort('rate_limited');
    this.pauseStop = new AbortController();
    if (usageLimit) return;
    deps.limiter.pause(account, ms).catch((err: unknown) => {
      deps.services.logger.warn({ err, connectionId: ctx.connection.id }, 'could not share the provider pause');
    });
  }

  /** A write succeeded: the account's next usage limit starts from the base pause (once per run). */
  private clearUsage(): void {
    this.usageCleared = true;
    const { deps, account, ctx } = this.env;
    deps.limiter.usageCleared(account).catch((err: unknown) => {
      deps.services.logger.warn({ err, connectionId: ctx.connection.id }, 'could not reset the usage-limit pause');
    });
  }

  /** Waits out a pause in place when it is short; otherwise stops the run (the job is delayed). */
  private async waitForPause(): Promise<boolean> {
    if (this.usagePause) await this.usagePause;
    const wait = this.pausedUntil - Date.now();
    if (wait <= 0) return true;
    if (wait > (this.env.deps.maxInlineWaitMs ?? 3000) || this.pauses > MAX_INLINE_PAUSES) {
      this.stop({ kind: 'error', error: new RateLimitedRunError(wait, 'provider') });
      return false;
    }
    await sleep(wait + Math.floor(Math.random() * 100));
    return !this.stopped;
  }

  /** Budget for `points` requests, waiting in place for short waits only. */
  private async acquire(points: number): Promise<boolean> {
    const { deps, account } = this.env;
    for (;;) {
      const got = await deps.limiter.acquire(account, points);
      if (got.ok) return true;
      if (got.waitMs > (deps.maxInlineWaitMs ?? 3000)) {
        this.stop({ kind: 'error', error: new RateLimitedRunError(got.waitMs, 'limiter') });
        return false;
      }
      await sleep(got.waitMs + Math.floor(Math.random() * 50));
      if (this.stopped) return false;
    }
  }

  /**
   * Up to `want` per-account slots shared with every worker: the first waited for (null when none frees
   * within the inline wait: the lane ends), the others taken only if free now.
   */
  private async takeSlots(want: number): Promise<HeldSlots | null> {
    const { deps, account } = this.env;
    if (!deps.slots) return { count: want, release: async () => undefined };
    const slots = deps.slots;
    const deadline = Date.now() + (deps.maxInlineWaitMs ?? 3000);
    for (;;) {
      // One round trip for the lane's slots (as many of `want` as are free), not one per slot.
      const got = await slots.tryAcquire(account, want);
      if (got.ok) return got.slot;
      this.slotWaitMs = got.waitMs;
      if (this.stopped || Date.now() >= deadline) return null;
      await sleep(Math.min(got.waitMs, 100) + Math.floor(Math.random() * 20));
    }
  }
}
