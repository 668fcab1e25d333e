import type { Db } from '../../src/db/database.ts';
import type { RedisClient as Redis } from '../../src/redis.ts';
import { findLiveFeeds, type LiveFeed } from './feeds.ts';

/**
 * What every feed fetch asks before anything else — its rate limit and its live feed — asked for the
 * fetches of concurrent requests together: the requests of one turn of the event loop, or those that
 * arrive while the previous batch is on its way, share ONE Redis MULTI (the rate limit) and ONE query
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
 * A fixed window of `points` fetches per `durationSeconds` per key (the window starts at the key's
 * first fetch), counted in Redis so every API process shares it. Each key's SET NX, INCR and PTTL run
 * together in the batch's MULTI.
 */
export function batchedRateLimit(
  redis: Redis,
  keyOf: (key: string) => string,
  points: number,
  durationSeconds: number,
): (key: string) => Promise<RateLimitAnswer> {
  const ms = durationSeconds * 1000;
  const batcher = new Batcher<string, RateLimitAnswer>(async (keys) => {
    const multi = redis.multi();
    for (const key of keys) {
      const k = keyOf(key);
      multi.set(k, '0', 'PX', ms, 'NX').incr(k).pttl(k);
    }
    const replies = await multi.exec();
    if (!replies) throw new Error('rate limit: MULTI aborted');
    return keys.map((_, i) => {
      const [incrErr, consumed] = replies[i * 3 + 1]!;
      const [, pttl] = replies[i * 3 + 2]!;
      if (incrErr) throw incrErr;
      return { allowed: Number(consumed) <= points, msBeforeNext: Math.max(0, Number(pttl)) };
    });
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
