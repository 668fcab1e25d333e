import { revocationEpochKey } from '../consent/service.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { redisKey } from '../redis.ts';

/**
 * In-flight transfer leases: what lets a revocation promise "no byte leaves after I answer".
 *
 * The gate registers a lease for a connection and reads its revocation epoch in one MULTI, right
 * before calling the provider, and releases the lease when the call settles. A revocation first
 * bumps the epoch, then waits until the connection has no lease. Redis executes both sides in one
 * order, so for every transfer either the gate saw the new epoch (and blocks), or its lease existed
 * before the bump (and the revocation waits for it). Leases expire after `LEASE_TTL_MS` so a crashed
 * worker cannot hold a revocation forever.
 */

/** Longer than any provider call may take (clients time out before this). */
export const LEASE_TTL_MS = 45_000;

const inflightKey = (prefix: string, connectionId: string) => redisKey(prefix, 'inflight', connectionId);

/** Registers a lease and returns the connection's current revocation epoch (null = never bumped). */
export async function beginTransfer(redis: Redis, prefix: string, params: { connectionId: string; leaseId: string }): Promise<string | null> {
  const key = inflightKey(prefix, params.connectionId);
  const res = await redis
    .multi()
    .zadd(key, Date.now() + LEASE_TTL_MS, params.leaseId)
    .pexpire(key, LEASE_TTL_MS * 2)
    .get(revocationEpochKey(prefix, params.connectionId))
    .exec();
  const epoch = res?.[2]?.[1];
  return typeof epoch === 'string' ? epoch : null;
}

/** Releases a lease (idempotent). */
export async function endTransfer(redis: Redis, prefix: string, params: { connectionId: string; leaseId: string }): Promise<void> {
  await redis.zrem(inflightKey(prefix, params.connectionId), params.leaseId);
}

/** Leases currently held for a connection (expired ones are dropped first). */
export async function inflightCount(redis: Redis, prefix: string, connectionId: string): Promise<number> {
  const key = inflightKey(prefix, connectionId);
  const res = await redis.multi().zremrangebyscore(key, '-inf', Date.now()).zcard(key).exec();
  return Number(res?.[1]?.[1] ?? 0);
}

/** What a drain found: the calls it waited for, and those still running when it gave up. */
export interface DrainResult {
  /** Gate calls (one transfer, or one `sendMany` chunk) holding a lease when the drain began. */
  waitedFor: number;
  /** Leases still held at the deadline (0 = drained). */
  stillRunning: number;
}

/**
 * Waits until none of the connections has a live lease, or `timeoutMs` passes (by then every lease
 * taken before the call has expired, unless a call keeps extending its own).
 */
export async function waitForInflightTransfers(
  redis: Redis,
  prefix: string,
  connectionIds: string[],
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<DrainResult> {
  const deadline = Date.now() + (options.timeoutMs ?? LEASE_TTL_MS);
  let pending = connectionIds;
  let waitedFor: number | null = null;
  while (pending.length) {
    const counts = await Promise.all(pending.map((id) => inflightCount(redis, prefix, id)));
    const held = counts.reduce((a, b) => a + b, 0);
    waitedFor ??= held;
    pending = pending.filter((_, i) => (counts[i] ?? 0) > 0);
    if (!pending.length) break;
    if (Date.now() >= deadline) return { waitedFor, stillRunning: held };
    await new Promise((r) => setTimeout(r, options.pollMs ?? 10));
  }
  return { waitedFor: waitedFor ?? 0, stillRunning: 0 };
}
