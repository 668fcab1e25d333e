import type { RedisClient as Redis } from '../redis.ts';
import { connectRedis } from '../redis.ts';

/**
 * The demo's footprint in a Redis it shares with others: every key Casebridge writes lives under
 * `<prefix>:` (sessions, locks, rate limits, revocation epochs) or `bull:<prefix>:` (BullMQ queues,
 * jobs and job schedulers).
 */
export function demoKeyPatterns(prefix: string): string[] {
  // REDIS_PREFIX is validated to letters, digits, _ and -: nothing in it is a SCAN glob character.
  return [`${prefix}:*`, `bull:${prefix}:*`];
}

/** Calls `each` with every batch of keys under the prefix (SCAN, so a large Redis is not blocked). */
async function scanUnder(url: string, prefix: string, each: (redis: Redis, keys: string[]) => Promise<void>): Promise<void> {
  const redis = await connectRedis(url);
  try {
    for (const match of demoKeyPatterns(prefix)) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await each(redis, keys);
      } while (cursor !== '0');
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/**
 * Removes every key under the prefix from the Redis at `url` and returns how many went. Run after
 * the service and its workers stopped, so nothing writes them again; the job schedulers (repeatable
 * jobs) go with their keys.
 */
export async function removeKeysUnder(url: string, prefix: string): Promise<number> {
  let removed = 0;
  await scanUnder(url, prefix, async (redis, keys) => {
    removed += await redis.unlink(...keys);
  });
  return removed;
}

/** How many keys are under the prefix. */
export async function countKeysUnder(url: string, prefix: string): Promise<number> {
  let count = 0;
  await scanUnder(url, prefix, async (_redis, keys) => {
    count += keys.length;
  });
  return count;
}
