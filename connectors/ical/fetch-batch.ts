import type { Db } from '../../src/db/database.ts';
import { type RedisClient as Redis, redisScript } from '../../src/redis.ts';
import { findLiveFeeds, type LiveFeed } from './feeds.ts';

/**
 * What every feed fetch asks before anything else — its rate limit and its live feed — asked for the
 * fetches of concurrent requests together: the requests of one turn of the event loop, or those that
 * arrive while the previous batch is on its way, share ONE Redis script call (the rate limit) and ONE query
 * (the live feeds). A conditional GET of an unchanged feed then costs a fraction of a round trip of
 * each instead of one each; every request still gets its own answer, decided on current data.
 */
class Batcher<K, V> {
  private pending: Array<{ key: K; resolve(v: V): void; reject(err: unknown): void }> = [];
  private busy = false;

  constructor(private readonly run: (keys: K[]) => Promise<V[]>) {}

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      if (this.busy) return;
      this.busy = true;
      setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, 500);
        try {
          const values = await this.run(batch.map((p) => p.key));
          for (const [i, p] of batch.entries()) p.resolve(values[i]!);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}

/** One fetch's place in its rate-limit window. */
export interface RateLimitAnswer {
  allowed: boolean;
  /** Until the window resets (ms). */
  msBeforeNext: number;
}

/**
 * Per key of a batch: start the window (SET NX with its expiry), count the fetch (INCR), read the
 * time left (PTTL). One script call for the whole batch: one command for Redis to parse and answer
 * instead of three per fetch (the keys are repeated as often as they were asked).
 */
const FIXED_WINDOW = `
local ms = ARGV[1]
local out = {}
for i, k in ipairs(KEYS) do
  redis.call('SET', k, '0', 'PX', ms, 'NX')
  out[2 * i - 1] = redis.call('INCR', k)
  out[2 * i] = redis.call('PTTL', k)
end
return out`;
const runFixedWindow = redisScript(FIXED_WINDOW);

/**
 * A fixed window of `points` fetches per `durationSeconds` per key (the window starts at the key's
 * first fetch), counted in Redis so every API process shares it. Each fetch's SET NX, INCR and PTTL
 * run, in order, in the batch's one script call (atomic, like the MULTI it replaces).
 */
export function batchedRateLimit(
  redis: Redis,
  keyOf: (key: string) => string,
  points: number,
  durationSeconds: number,
): (key: string) => Promise<RateLimitAnswer> {
  const ms = String(durationSeconds * 1000);
  const batcher = new Batcher<string, RateLimitAnswer>(async (keys) => {
    const replies = (await runFixedWindow(redis, keys.map(keyOf), [ms])) as number[];
    return keys.map((_, i) => ({ allowed: Number(replies[i * 2]) <= points, msBeforeNext: Math.max(0, Number(replies[i * 2 + 1])) }));
  });
  return (key) => batcher.get(key);
}

/** The live feed of a token hash, or null (see `findLiveFeed`), looked up with concurrent fetches'. */
export function batchedLiveFeeds(db: Db): (tokenHash: string) => Promise<LiveFeed | null> {
  const batcher = new Batcher<string, LiveFeed | null>(async (hashes) => {
    const found = await findLiveFeeds(db, hashes);
    return hashes.map((h) => found.get(h) ?? null);
  });
  return (tokenHash) => batcher.get(tokenHash);
}
