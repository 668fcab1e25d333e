import { randomUUID } from 'node:crypto';
import type { RedisClient as Redis } from '../src/redis.ts';
import { redisKey, redisScript } from '../src/redis.ts';

/**
 * A provider's "at most N requests in flight per account" (the manifest's `concurrency`), shared by
 * every worker process: a counting semaphore in Redis. One sorted set per account holds a member per
 * slot taken, scored by the moment its lease ends; a slot whose holder died (kill -9) frees itself
 * when its lease ends. Taking, renewing and giving back slots are each one Lua script over that one
 * key, so they are atomic across workers, and the slots a caller takes together (a reconcile lane's
 * calls at once) cost one call each way, not one per slot. The key's `{…}` hash tag keeps anything
 * added beside it in the same Redis Cluster slot. Knows no platform.
 */

/**
 * KEYS[1]: the account's slot set. ARGV: mode ('take' | 'renew' | 'give'), holder id, limit, lease ms,
 * slots (how many the holder wants, renews or gives; its members are `holder:1` … `holder:n`). Scores
 * are lease ends on the Redis server's clock (one clock for every worker).
 * Returns for 'take': the slots taken (1 … n, as many as are free) and 0, or 0 and the ms until the
 * earliest lease ends (at least 1) when none is free; for 'renew': the slots the holder still had
 * (renewed; the others it had lost); for 'give': 0.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode, holder = ARGV[1], ARGV[2]
local lease = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
if mode == 'give' then
  for i = 1, n do redis.call('ZREM', KEYS[1], holder .. ':' .. i) end
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if mode == 'renew' then
  local kept = 0
  for i = 1, n do
    local member = holder .. ':' .. i
    if redis.call('ZSCORE', KEYS[1], member) then
      redis.call('ZADD', KEYS[1], now + lease, member)
      kept = kept + 1
    end
  end
  if kept > 0 then redis.call('PEXPIRE', KEYS[1], lease + 1000) end
  return kept
end
local free = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[1])
if free <= 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = tonumber(first[2]) - now
  if wait < 1 then wait = 1 end
  return { 0, wait }
end
local taken = math.min(n, free)
for i = 1, taken do redis.call('ZADD', KEYS[1], now + lease, holder .. ':' .. i) end
redis.call('PEXPIRE', KEYS[1], lease + 1000)
return { taken, 0 }
`;
const runSlots = redisScript(SCRIPT);

/** Slots held (one or more, taken together): give them back when the calls they cover are over. */
export interface ConcurrencySlot {
  /** How many slots this holds (calls it may make at once). */
  readonly count: number;
  release(): Promise<void>;
}

export type SlotAttempt = { ok: true; slot: ConcurrencySlot } | { ok: false; waitMs: number };

/** The per-account concurrency limit of one platform. */
export class AccountConcurrencyLimiter {
  private readonly prefix: string;
  /** Slots this process holds now (their release functions). */
  private readonly held = new Set<() => Promise<void>>();

  constructor(
    private readonly params: {
      redis: Redis;
      prefix: string;
      platform: string;
      /** Slots per account (the manifest's `concurrency`). */
      limit: number;
      /**
       * How long a slot outlives a holder that stopped renewing it (a killed worker). Renewed every
       * third of it while held, so a slow call keeps its slot. Default 60 s.
       */
      leaseMs?: number;
    },
  ) {
    this.prefix = redisKey(params.prefix, 'conc', params.platform);
  }

  /** The per-account limit this enforces. */
  get limit(): number {
    return this.params.limit;
  }

  /**
   * Takes up to `want` slots of `account` in one round trip — as many as are free, at least one — or
   * says when the earliest one may free (a hint: slots are given back early). They are renewed and
   * given back together.
   */
  async tryAcquire(account: string, want = 1): Promise<SlotAttempt> {
    const key = this.key(account);
    const holder = randomUUID();
    const leaseMs = this.params.leaseMs ?? 60_000;
    const reply = (await runSlots(this.params.redis, [key], ['take', holder, this.params.limit, leaseMs, Math.max(1, want)])) as [number, number];
    const count = Number(reply[0]);
    if (count < 1) return { ok: false, waitMs: Math.max(1, Number(reply[1])) };
    const renew = setInterval(
      () => {
        runSlots(this.params.redis, [key], ['renew', holder, this.params.limit, leaseMs, count]).catch(() => undefined);
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    renew.unref();
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      this.held.delete(release);
      clearInterval(renew);
      // A failure only keeps the slots until their lease ends.
      await runSlots(this.params.redis, [key], ['give', holder, this.params.limit, leaseMs, count]).catch(() => undefined);
    };
    this.held.add(release);
    return { ok: true, slot: { count, release } };
  }

  /**
   * Gives back every slot this process holds, e.g. when a shutdown hands its running jobs back to the
   * queue and the process exits without waiting for them: the next worker must not wait for leases
   * that nobody renews any more (a killed process's slots still free themselves when their lease ends).
   */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((release) => release()));
  }

  /** Slots of `account` held right now (tests, metrics). */
  async inUse(account: string): Promise<number> {
    const key = this.key(account);
    const now = Number((await this.params.redis.time())[0]) * 1000;
    return this.params.redis.zcount(key, now, '+inf');
  }

  private key(account: string): string {
    return `${this.prefix}:{${account}}:slots`;
  }
}
