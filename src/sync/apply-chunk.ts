import type { ApplyOptions, ConnectorSync, PlanStep, StepResult, SyncContext } from '../../connectors/types.ts';
import type { BlockReason } from '../transfers/types.ts';

/**
 * The apply half of a reconcile run, one chunk at a time: the connector sends the steps through the
 * gate, and {@link sortChunk} says what its results mean for the run — what is settled (recorded in
 * sync_state / sync_item_errors), what goes back to the run's queue to be sent again (never sent,
 * or refused with "slow down"), and what stops the run. Pure apart from the connector call.
 */

/** Block reasons that stop the whole run (the connection or its consent is gone, not one item). */
export const STOP_REASONS: ReadonlySet<BlockReason> = new Set([
  'connection_not_active',
  'connection_revoked',
  'consent_missing',
  'consent_withdrawn',
  'platform_disabled',
]);

/**
 * The error code (`ProviderErrorClass.code` of a `rate_limited` class) of a usage limit — a quota
 * that frees itself after hours, not a per-minute window: its pause grows on repeats (see
 * `EngineLimiter.usageLimited`) until a write succeeds again.
 */
export const USAGE_LIMIT = 'usage_limit';

type Failed = Extract<StepResult, { outcome: 'failed' }>;

/** What one chunk's results mean for the run. */
export interface SortedChunk {
  /** Final for this run: recorded as they are (done, blocked, failed other than rate-limited or 401). */
  settled: { steps: PlanStep[]; results: StepResult[] };
  /** Sent again in this run, in order: steps that never left, and steps the provider refused with "slow down". */
  again: PlanStep[];
  /** Steps answered 401 (not a lost grant): sent again once after a token refresh, else settled as transient. */
  authFailed: Array<{ step: PlanStep; result: Failed }>;
  /** The longest Retry-After of the chunk's "slow down" answers (null: none given); undefined = no such answer. */
  rateLimitedMs: number | null | undefined;
  /** One of them was a usage limit (`code: usage_limit`): a pause that grows on repeats. */
  usageLimited: boolean;
  /** A step refused because the grant is gone: the connection needs re-authorization. */
  reauth: Failed | null;
  /** The gate refused for a reason that concerns the whole connection. */
  stop: BlockReason | null;
  /** The gate refused an item under a consent that changed since planning: the run re-plans. */
  consentChanged: boolean;
  /** The destination itself is gone at the provider. */
  destinationMissing: boolean;
  /** Settled steps that failed in a way worth retrying later, and the last such message. */
  transient: { count: number; message: string };
  /** Provider requests made. */
  calls: number;
}

/** Sorts one chunk's results (one per step, in order). Pure. */
export function sortChunk(steps: readonly PlanStep[], results: readonly StepResult[]): SortedChunk {
  const sorted: SortedChunk = {
    settled: { steps: [], results: [] },
    again: [],
    authFailed: [],
    rateLimitedMs: undefined,
    usageLimited: false,
    reauth: null,
    stop: null,
    consentChanged: false,
    destinationMissing: false,
    transient: { count: 0, message: '' },
    calls: 0,
  };
  const settle = (step: PlanStep, result: StepResult) => {
    sorted.settled.steps.push(step);
    sorted.settled.results.push(result);
  };
  for (const [i, r] of results.entries()) {
    const step = steps[i]!;
    sorted.calls += r.calls;
    if (r.outcome === 'done') {
      settle(step, r);
      continue;
    }
    if (r.outcome === 'not_sent') {
      sorted.again.push(step);
      continue;
    }
    if (r.outcome === 'blocked') {
      if (STOP_REASONS.has(r.reason)) sorted.stop ??= r.reason;
      else sorted.consentChanged = true;
      settle(step, r);
      continue;
    }
    const e = r.error;
    if (e.kind === 'rate_limited') {
      sorted.again.push(step);
      if (e.code === USAGE_LIMIT) sorted.usageLimited = true;
      const wait = e.retryAfterMs;
      sorted.rateLimitedMs = wait === null ? (sorted.rateLimitedMs ?? null) : Math.max(wait, sorted.rateLimitedMs ?? 0);
      continue;
    }
    if (e.kind === 'auth_failed' && e.reauthRequired) {
      sorted.reauth ??= r;
      settle(step, r);
      continue;
    }
    if (e.kind === 'auth_failed') {
      sorted.authFailed.push({ step, result: r });
      continue;
    }
    if (e.code === 'destination_missing') sorted.destinationMissing = true;
    if (e.kind === 'transient') {
      sorted.transient.count += 1;
      sorted.transient.message = e.message;
    }
    settle(step, r);
  }
  return sorted;
}

/** Applies one chunk through the connector and sorts its results. */
export async function applyChunk(sync: ConnectorSync, ctx: SyncContext, steps: PlanStep[], options: ApplyOptions): Promise<SortedChunk> {
  const results = await sync.apply(ctx, steps, options);
  if (results.length !== steps.length) throw new Error(`the connector returned ${results.length} results for ${steps.length} steps`);
  return sortChunk(steps, results);
}
