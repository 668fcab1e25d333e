import { randomBytes } from 'node:crypto';
import { type RedisClient as Redis, redisScript } from '../redis.ts';

/**
 * A Redis mutex for one resource: `SET key token NX PX ttl` to take it, compare-and-delete to
 * release it and compare-and-pexpire to extend it, so a holder whose lease ran out can never release
 * or extend someone else's lock. Used for single-flight token refresh and for one reconcile run per
 * connection at a time.
 */

/**
 * KEYS[1] lock key; ARGV[1] token. Deletes the key only if it still holds the token.
 * Returns 1 when released, 0 when the lock was no longer ours.
 */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * KEYS[1] lock key; ARGV[1] token; ARGV[2] new ttl in ms. Extends the lease only if it still holds
 * the token. Returns 1 when extended, 0 otherwise.
 */
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const runRelease = redisScript(RELEASE);
const runExtend = redisScript(EXTEND);

export interface HeldLock {
  readonly key: string;
  readonly token: string;
  /** Extends the lease; false when the lock was lost (expired and maybe taken by another holder). */
  extend(ttlMs: number): Promise<boolean>;
  /** Releases the lock if still ours. */
  release(): Promise<boolean>;
}

/** Tries once to take the lock; null when someone else holds it. */
export async function tryLock(redis: Redis, key: string, ttlMs: number, token = randomBytes(16).toString('hex')): Promise<HeldLock | null> {
  const ok = await redis.set(key, token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
  if (ok !== 'OK') return null;
  return {
    key,
    token,
    extend: async (ms) => (await runExtend(redis, [key], [token, String(Math.max(1, Math.round(ms)))])) === 1,
    release: async () => (await runRelease(redis, [key], [token])) === 1,
  };
}
