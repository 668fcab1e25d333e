import { randomUUID } from 'node:crypto';
import { rateLimitWaits } from '../src/observability/metrics.ts';
import type { RedisClient as Redis } from '../src/redis.ts';
import { redisKey, redisScript } from '../src/redis.ts';

/**
 * Provider rate limits in Redis, shared by every worker process: one budget per provider account and
 * one per project, each `{ limit, windowSeconds }` as the connector's manifest declares it (a
 * platform's config fragment may name variables that raise a limit). Knows no platform.
 *
 * Providers count requests in a sliding window, so this counts the same way: a sliding-window log,
 * one Redis sorted set per budget holding a member per request scored by the Redis server's clock
 * (one clock for every worker). An acquisition trims what left the window, checks both budgets and
 * records its requests in both — or in neither — in one Lua script, so it is atomic across workers.
 * Each budget is kept at 95% of the provider's limit, which leaves room for the difference between
 * when we count a request and when it reaches the provider.
 *
 * Why not fixed windows (rate-limiter-flexible, which the feed endpoint uses): a fixed window allows a
 * full budget at the end of one window and another at the start of the next. Keeping any sliding
 * minute under the quota with fixed windows means small sub-windows (19 requests per 2 s for
 * 600/min), which also caps bursts: a fresh account's first sync of 50 items waited ~5 s for
 * budget the provider would have granted at once. The log grants an idle account its whole budget
 * immediately and then exactly what leaves the window.
 */

export interface RateBudget {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

/** Budgets at or above this are unlimited: nothing is counted. */
const UNLIMITED = 100_000_000;

/** The share of a provider's limit we use. */
export const BUDGET_SHARE = 0.95;

/** Requests we allow per window for a provider limit (0 = unlimited). */
export function effectiveLimit(budget: RateBudget): number {
  if (budget.limit >= UNLIMITED) return 0;
  return Math.max(1, Math.floor(budget.limit * BUDGET_SHARE));
}

/**
 * KEYS: account log, project log, account pause key. ARGV: now (ms, or -1 for the Redis clock), points,
 * account window ms, project window ms, mode ('acquire' | 'charge'), member nonce, account limit,
 * project limit (0 = unlimited). Returns 0 when the points were recorded, else the ms to wait.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local n = tonumber(ARGV[2])
local windows = { tonumber(ARGV[3]), tonumber(ARGV[4]) }
local mode = ARGV[5]
local limits = { tonumber(ARGV[7]), tonumber(ARGV[8]) }
if mode == 'acquire' then
  local paused = redis.call('PTTL', KEYS[3])
  if paused > 0 then return paused end
end
local wait = 0
for i = 1, 2 do
  if limits[i] > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - windows[i])
    if mode == 'acquire' then
      local over = redis.call('ZCARD', KEYS[i]) + n - limits[i]
      if over > 0 then
        -- The over-th oldest request must leave the window first.
        local e = redis.call('ZRANGE', KEYS[i], over - 1, over - 1, 'WITHSCORES')
        local w = windows[i]
        if e[2] then w = tonumber(e[2]) + windows[i] - now + 1 end
        if w > wait then wait = w end
      end
    end
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  if limits[i] > 0 then
    local args = {}
    for j = 1, n do
      args[#args + 1] = now
      args[#args + 1] = ARGV[6] .. ':' .. j
    end
    redis.call('ZADD', KEYS[i], unpack(args))
    redis.call('PEXPIRE', KEYS[i], windows[i] + 1000)
  end
end
return 0
`;

const PAUSE = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 0
`;

/**
 * A usage limit (a calendar read-only for hours, a daily quota) pauses the account for a time that
 * doubles on each repeat: KEYS: pause key, usage key (a hash: `level`, `until`). ARGV: base ms, cap ms,
 * how long the level is remembered after its pause ends. A report while the account's usage pause is
 * still in force (calls that were already under way) does not grow it; the pause ends early only when
 * the pause key goes. Returns the ms the account stays paused from now.
 */
const USAGE_PAUSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local base, cap, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local untilAt = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
local paused = redis.call('PTTL', KEYS[1])
if untilAt > now and paused > 0 then return math.max(paused, untilAt - now) end
local level = tonumber(redis.call('HGET', KEYS[2], 'level') or '0')
local ms = math.floor(math.min(cap, base * math.pow(2, math.min(level, 40))))
redis.call('HSET', KEYS[2], 'level', level + 1, 'until', now + ms)
redis.call('PEXPIRE', KEYS[2], ms + keep)
if paused < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return ms
`;

/** KEYS: pause key, usage key. Forgets the usage level unless its pause is still in force. Returns 1 when forgotten. */
const USAGE_CLEAR = `
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilAt = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
if untilAt > now and redis.call('PTTL', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
`;

const runBudgets = redisScript(SCRIPT);
const runPause = redisScript(PAUSE);
const runUsagePause = redisScript(USAGE_PAUSE);
const runUsageClear = redisScript(USAGE_CLEAR);

/** The longest usage-limit pause: Google's daily quotas reset every 24 h. */
export const USAGE_PAUSE_CAP_MS = 24 * 3_600_000;
/** How long the usage level outlives its pause when no write succeeds (then a new limit starts over). */
export const USAGE_LEVEL_MEMORY_MS = 7 * 24 * 3_600_000;

export type Acquired = { ok: true } | { ok: false; waitMs: number };

/** Per-account and per-project budgets of one platform. */
export class ProviderRateLimiter {
  private readonly prefix: string;
  private readonly accountLimit: number;
  private readonly projectLimit: number;
  /** Largest number of points one acquisition may take (a chunk must not exceed it). */
  readonly maxPerAcquire: number;

  constructor(
    private readonly params: {
      redis: Redis;
      prefix: string;
      platform: string;
      perAccount: RateBudget;
      perProject: RateBudget;
      /** The clock in ms (tests); default the Redis server's. */
      now?: () => number;
    },
  ) {
    // Not 'rl': the fixed-window limiter this replaced kept string counters under those names, and a
    // worker of the previous version running during an upgrade must not meet a sorted set there.
    this.prefix = redisKey(params.prefix, 'rlog', params.platform);
    this.accountLimit = effectiveLimit(params.perAccount);
    this.projectLimit = effectiveLimit(params.perProject);
    const bounded = [this.accountLimit, this.projectLimit].filter((l) => l > 0);
    this.maxPerAcquire = bounded.length ? Math.min(...bounded) : 1_000;
  }

  /** Takes `points` from both budgets, or says how long to wait (and takes nothing). */
  async acquire(account: string, points: number): Promise<Acquired> {
    const wait = await this.run('acquire', account, Math.max(1, Math.min(points, this.maxPerAcquire)));
    if (wait > 0) rateLimitWaits.observe({ platform: this.params.platform, source: 'limiter' }, wait / 1000);
    return wait > 0 ? { ok: false, waitMs: wait } : { ok: true };
  }

  /** Charges requests made beyond what was acquired (e.g. a 409 followed by an update). */
  async charge(account: string, points: number): Promise<void> {
    if (points > 0) await this.run('charge', account, Math.min(points, 1_000));
  }

  /** The provider said "slow down" for this account: nobody uses its budget until `ms` passed. */
  async pause(account: string, ms: number): Promise<void> {
    rateLimitWaits.observe({ platform: this.params.platform, source: 'provider' }, Math.max(0, ms) / 1000);
    await runPause(this.params.redis, [`${this.prefix}:pause:${account}`], [Math.max(1, Math.ceil(ms))]);
  }

  /**
   * The provider reported a usage limit (not a per-minute rate limit): the account is paused for
   * `baseMs`, doubled for each usage limit since its last successful write (1 h, 2 h, 4 h… at most
   * {@link USAGE_PAUSE_CAP_MS}). Kept in Redis, so worker restarts keep both the pause and the level.
   * Returns how long the account is paused from now.
   */
  async usageLimited(account: string, baseMs: number): Promise<number> {
    const ms = await runUsagePause(
      this.params.redis,
      [`${this.prefix}:pause:${account}`, `${this.prefix}:usage:${account}`],
      [Math.max(1, Math.ceil(baseMs)), USAGE_PAUSE_CAP_MS, USAGE_LEVEL_MEMORY_MS],
    );
    return Number(ms);
  }

  /** A write succeeded: the next usage limit pauses for the base time again (unless a usage pause is in force). */
  async usageCleared(account: string): Promise<boolean> {
    return Number(await runUsageClear(this.params.redis, [`${this.prefix}:pause:${account}`, `${this.prefix}:usage:${account}`])) === 1;
  }

  private async run(mode: 'acquire' | 'charge', account: string, points: number): Promise<number> {
    const { redis, perAccount, perProject, now } = this.params;
    const result = await runBudgets(
      redis,
      [`${this.prefix}:account:${account}`, `${this.prefix}:project`, `${this.prefix}:pause:${account}`],
      [now ? now() : -1, points, perAccount.windowMs, perProject.windowMs, mode, randomUUID(), this.accountLimit, this.projectLimit],
    );
    return Number(result);
  }
}

/** A budget as a manifest declares it (see `RateBudgetSpec` in connectors/types.ts). */
export interface DeclaredBudget {
  limit: number;
  windowSeconds: number;
  concurrency?: number;
}

const UNLIMITED_BUDGET: RateBudget = { limit: 1_000_000_000, windowMs: 60_000 };

/**
 * The budgets of a platform: its manifest's lines (unlimited where it declares none), with the
 * `limit` replaced by the configuration variable its config fragment names for it, if any.
 */
export function rateBudgets(params: {
  declared: { perAccount?: DeclaredBudget; perProject?: DeclaredBudget } | undefined;
  /** Variable names overriding each limit, and the parsed configuration to read them from. */
  overrides?: { perAccount?: string; perProject?: string };
  config?: object;
}): { perAccount: RateBudget; perProject: RateBudget } {
  const resolve = (which: 'perAccount' | 'perProject'): RateBudget => {
    const budget = params.declared?.[which];
    if (!budget) return UNLIMITED_BUDGET;
    const variable = params.overrides?.[which];
    const configured = variable ? (params.config as Record<string, unknown> | undefined)?.[variable] : undefined;
    return { limit: typeof configured === 'number' ? configured : budget.limit, windowMs: budget.windowSeconds * 1000 };
  };
  return { perAccount: resolve('perAccount'), perProject: resolve('perProject') };
}
