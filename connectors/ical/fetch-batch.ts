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

/** What a feed fetch is admitted on: its place in the rate-limit window and the live feed of its token (null: none, or not looked up). */
export interface Admission {
  limit: RateLimitAnswer;
  feed: LiveFeed | null;
}

/**
 * When a fetch's live feed is looked up: `'always'` — alongside its rate limit (a token this process
 * has served: one round trip of latency) — or `'if_allowed'` — only once the rate limit allowed it (a
 * token not seen yet: a refused fetch costs the database nothing).
 */
export type LookupWhen = 'always' | 'if_allowed';

/**
 * The admission of concurrent feed fetches, in batches: the rate limit — a fixed window of `points`
 * fetches per `durationSeconds` per token hash (the window starts at the key's first fetch), counted
 * in Redis so every API process shares it; each fetch's SET NX, INCR and PTTL run, in order, in the
 * batch's ONE script call — and the live-feed lookup (`findLiveFeeds`), ONE query for the batch's
 * `'always'` fetches sent together with the script call, and one more after it for `'if_allowed'`
 * fetches the limit let through. A batch of polls of known tokens is then one script call and one
 * query, sent at the same time, behind one wake-up of the event loop.
 */
export function batchedAdmission(
  redis: Redis,
  db: Db,
  options: { keyOf: (tokenHash: string) => string; points: number; durationSeconds: number },
): (tokenHash: string, lookup: LookupWhen) => Promise<Admission> {
  const ms = String(options.durationSeconds * 1000);
  const batcher = new Batcher<{ tokenHash: string; lookup: LookupWhen }, Admission>(async (asks) => {
    const eager = new Set(asks.filter((a) => a.lookup === 'always').map((a) => a.tokenHash));
    const [replies, found] = await Promise.all([
      runFixedWindow(
        redis,
        asks.map((a) => options.keyOf(a.tokenHash)),
        [ms],
      ) as Promise<number[]>,
      eager.size ? findLiveFeeds(db, [...eager]) : new Map<string, LiveFeed>(),
    ]);
    const limits = asks.map((_, i) => ({ allowed: Number(replies[i * 2]) <= options.points, msBeforeNext: Math.max(0, Number(replies[i * 2 + 1])) }));
    const late = asks.filter((a, i) => a.lookup === 'if_allowed' && limits[i]!.allowed && !eager.has(a.tokenHash)).map((a) => a.tokenHash);
    // (The batch's other fetches wait for this second query too; a batch has such fetches only when a
    // token is fetched for the first time in this process.)
    if (late.length) for (const [hash, feed] of await findLiveFeeds(db, late)) found.set(hash, feed);
    return asks.map((a, i) => ({
      limit: limits[i]!,
      feed: a.lookup === 'always' || limits[i]!.allowed ? (found.get(a.tokenHash) ?? null) : null,
    }));
  });
  return (tokenHash, lookup) => batcher.get({ tokenHash, lookup });
}
