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

/** Counts one hit of a fixed-window counter (the gate's `countHit`: it shares the script call of the gate's leases). */
export type CountHit = (key: string, windowMs: number) => Promise<{ count: number; msLeft: number }>;

/**
 * The admission of concurrent feed fetches, in batches: the rate limit — a fixed window of `points`
 * fetches per `durationSeconds` per token hash (the window starts at the key's first fetch), counted
 * in Redis so every API process shares it, through `countHit`: the gate's batch of lease registrations,
 * so a poll's count and its gate call's lease share ONE script call — and then, for the fetches the
 * limit let through, the live-feed lookup (`findLiveFeeds`): ONE query for the fetches one script reply
 * let through (a refused fetch costs the database nothing). A poll of a token the process has served
 * asks only the limit: its feed is checked by the statement that logs it (`src/transfers/types.ts#FeedCheck`).
 */
export function batchedAdmission(
  countHit: CountHit,
  db: Db,
  options: { keyOf: (tokenHash: string) => string; points: number; durationSeconds: number },
): FeedAdmission {
  const ms = options.durationSeconds * 1000;
  const lookups = new Batcher<string, LiveFeed | null>(async (hashes) => {
    const found = await findLiveFeeds(db, hashes);
    return hashes.map((h) => found.get(h) ?? null);
  });
  const limit = async (tokenHash: string): Promise<RateLimitAnswer> => {
    const hit = await countHit(options.keyOf(tokenHash), ms);
    return { allowed: hit.count <= options.points, msBeforeNext: hit.msLeft };
  };
  const lookup = (tokenHash: string) => lookups.get(tokenHash);
  return {
    limit,
    lookup,
    async admit(tokenHash) {
      const counted = await limit(tokenHash);
      // (The lookups of the fetches one script reply let through are asked in the same turn: one query.)
      return { limit: counted, feed: counted.allowed ? await lookup(tokenHash) : null };
    },
  };
}

/** A process's admission of feed fetches (see {@link batchedAdmission}). */
export interface FeedAdmission {
  /** The rate limit, then (allowed) the live feed. */
  admit(tokenHash: string): Promise<Admission>;
  /** The rate limit alone (a fetch whose feed is checked otherwise: see `src/transfers/types.ts#FeedCheck`). */
  limit(tokenHash: string): Promise<RateLimitAnswer>;
  /** The live feed alone (batched like the others), without counting a fetch: null when none. */
  lookup(tokenHash: string): Promise<LiveFeed | null>;
}
