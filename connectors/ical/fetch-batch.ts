import type { Db } from '../../src/db/database.ts';
import { findLiveFeeds, type LiveFeed } from './feeds.ts';

/**
 * What every feed fetch asks before anything else — its rate limit and its live feed — asked for the
 * fetches of concurrent requests together: the requests of one turn of the event loop, or those that
 * arrive while the previous batch is on its way, share ONE Redis script call (the rate limit, with the
 * gate's leases) and ONE query (the live feeds). A conditional GET of an unchanged feed then costs a
 * fraction of a round trip of each instead of one each; every request still gets its own answer,
 * decided on current data.
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

/** Counts one hit of a fixed-window counter (the gate's `countHit`: it shares the script call of the gate's leases). */
export type CountHit = (key: string, windowMs: number) => Promise<{ count: number; msLeft: number }>;

/**
 * The admission of concurrent feed fetches, in batches: the rate limit — a fixed window of `points`
 * fetches per `durationSeconds` per token hash (the window starts at the key's first fetch), counted
 * in Redis so every API process shares it, through `countHit`: the gate's batch of lease registrations,
 * so a poll's count and its gate call's lease share ONE script call — and the live-feed lookup
 * (`findLiveFeeds`), ONE query for the `'always'` fetches of a turn sent together with that script
 * call, and one more after it for `'if_allowed'` fetches the limit let through. A batch of polls of
 * known tokens is then one script call and one query, sent at the same time, behind one wake-up of the
 * event loop.
 */
export function batchedAdmission(
  countHit: CountHit,
  db: Db,
  options: { keyOf: (tokenHash: string) => string; points: number; durationSeconds: number },
): (tokenHash: string, lookup: LookupWhen) => Promise<Admission> {
  const ms = options.durationSeconds * 1000;
  const lookups = new Batcher<string, LiveFeed | null>(async (hashes) => {
    const found = await findLiveFeeds(db, hashes);
    return hashes.map((h) => found.get(h) ?? null);
  });
  const limitOf = (hit: { count: number; msLeft: number }): RateLimitAnswer => ({ allowed: hit.count <= options.points, msBeforeNext: hit.msLeft });
  return async (tokenHash, lookup) => {
    const hit = countHit(options.keyOf(tokenHash), ms);
    if (lookup === 'always') {
      const [counted, feed] = await Promise.all([hit, lookups.get(tokenHash)]);
      return { limit: limitOf(counted), feed };
    }
    const limit = limitOf(await hit);
    // (The lookups of the fetches a script reply let through resolve in the same turn: one query.)
    return { limit, feed: limit.allowed ? await lookups.get(tokenHash) : null };
  };
}
