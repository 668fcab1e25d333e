import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { redisKey } from '../src/redis.ts';

/**
 * Provider rate limits in Redis, shared by every worker process: one budget per provider account
 * (Google: 600 requests/min per user) and one per project (Google: 10,000/min), both configurable.
 *
 * Providers count in a sliding window; rate-limiter-flexible counts in fixed windows. A fixed
 * 60-second window would allow a full budget at the end of one window and another at the start of
 * the next — twice the quota inside one sliding minute. So each budget is split into sub-windows of
 * `window/30` with `floor(limit / 31)` points each: any sliding window overlaps at most 31
 * sub-windows, so it can never see more than the provider's limit (600/min → 19 per 2 s = 570/min,
 * 95% of the quota). A rejected acquisition tells the caller how long to wait; nothing blocks.
 */

export interface RateBudget {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

/** Sub-window size and points that keep any sliding window of `windowMs` within `limit`. */
export function subWindow(budget: RateBudget, maxSlices = 30): { durationSec: number; points: number } {
  const windowSec = Math.max(1, Math.ceil(budget.windowMs / 1000));
  // Fewer slices for tiny budgets, so every sub-window still gets at least one request.
  const slices = Math.max(1, Math.min(maxSlices, budget.limit - 1));
  const durationSec = Math.ceil(windowSec / slices);
  const windows = Math.ceil(windowSec / durationSec) + 1;
  return { durationSec, points: Math.max(1, Math.floor(budget.limit / windows)) };
}

export type Acquired = { ok: true } | { ok: false; waitMs: number };

/** Per-account and per-project budgets of one platform. */
export class ProviderRateLimiter {
  private readonly account: RateLimiterRedis;
  private readonly project: RateLimiterRedis;
  /** Largest number of points one acquisition may take (a chunk must not exceed it). */
  readonly maxPerAcquire: number;

  constructor(params: { redis: Redis; prefix: string; platform: string; perAccount: RateBudget; perProject: RateBudget }) {
    const acct = subWindow(params.perAccount);
    const proj = subWindow(params.perProject);
    this.account = new RateLimiterRedis({
      storeClient: params.redis,
      keyPrefix: redisKey(params.prefix, 'rl', params.platform, 'account'),
      points: acct.points,
      duration: acct.durationSec,
    });
    this.project = new RateLimiterRedis({
      storeClient: params.redis,
      keyPrefix: redisKey(params.prefix, 'rl', params.platform, 'project'),
      points: proj.points,
      duration: proj.durationSec,
    });
    this.maxPerAcquire = Math.min(acct.points, proj.points);
  }

  /** Takes `points` from both budgets, or says how long to wait (and takes nothing). */
  async acquire(account: string, points: number): Promise<Acquired> {
    const n = Math.max(1, Math.min(points, this.maxPerAcquire));
    // Both budgets at once (one round trip of latency); a budget that granted while the other
    // refused gets its points back.
    const [acct, proj] = await Promise.allSettled([this.account.consume(account, n), this.project.consume('all', n)]);
    if (acct.status === 'fulfilled' && proj.status === 'fulfilled') return { ok: true };
    for (const r of [acct, proj]) if (r.status === 'rejected' && !(r.reason instanceof RateLimiterRes)) throw r.reason;
    if (acct.status === 'fulfilled') await this.account.reward(account, n).catch(() => undefined);
    if (proj.status === 'fulfilled') await this.project.reward('all', n).catch(() => undefined);
    const waits = [acct, proj].flatMap((r) => (r.status === 'rejected' ? [(r.reason as RateLimiterRes).msBeforeNext] : []));
    return { ok: false, waitMs: Math.max(1, ...waits) };
  }

  /** Charges requests made beyond what was acquired (e.g. a 409 followed by an update). */
  async charge(account: string, points: number): Promise<void> {
    if (points <= 0) return;
    await Promise.all([this.account.penalty(account, points), this.project.penalty('all', points)]);
  }

  /** The provider said "slow down" for this account: nobody uses its budget until `ms` passed. */
  async pause(account: string, ms: number): Promise<void> {
    await this.account.block(account, Math.max(1, Math.ceil(ms / 1000)));
  }
}

/**
 * The budgets of a platform: Google's come from configuration (GOOGLE_USER_RATE_PER_MINUTE,
 * GOOGLE_PROJECT_RATE_PER_MINUTE), others from their manifest (unlimited when it names none).
 */
export function rateBudgets(
  config: { GOOGLE_USER_RATE_PER_MINUTE: number; GOOGLE_PROJECT_RATE_PER_MINUTE: number },
  manifest: { id: string; rateLimits?: { perAccountPerMinute?: number; perProjectPerMinute?: number } },
): { perAccount: RateBudget; perProject: RateBudget } {
  const minute = 60_000;
  const unlimited = 1_000_000_000;
  if (manifest.id === 'google_calendar') {
    return {
      perAccount: { limit: config.GOOGLE_USER_RATE_PER_MINUTE, windowMs: minute },
      perProject: { limit: config.GOOGLE_PROJECT_RATE_PER_MINUTE, windowMs: minute },
    };
  }
  return {
    perAccount: { limit: manifest.rateLimits?.perAccountPerMinute ?? unlimited, windowMs: minute },
    perProject: { limit: manifest.rateLimits?.perProjectPerMinute ?? unlimited, windowMs: minute },
  };
}
