import { revocationEpochKey } from '../consent/service.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { redisKey, redisScript } from '../redis.ts';

/**
 * In-flight transfer leases: what lets a revocation promise "no byte leaves after I answer".
 *
 * The gate registers a lease for a connection and reads its revocation epoch atomically (one MULTI
 * for a single call here, one Lua script for a batch), right before calling the provider, and
 * releases the lease once the call's outcome row is committed. A revocation first bumps the epoch, then waits until the connection has no lease. Redis executes both sides in one
 * order, so for every transfer either the gate saw the new epoch (and blocks), or its lease existed
 * before the bump (and the revocation waits for it). Leases expire after `LEASE_TTL_MS` so a crashed
 * worker cannot hold a revocation forever.
 */

/** Longer than any provider call may take (clients time out before this). */
export const LEASE_TTL_MS = 45_000;

/** How long a release may wait to share the next batch of lease registrations (see `LeaseBatcher`). */
export const RELEASE_DELAY_MS = 2;

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

/**
 * Lease registrations and releases of concurrent gate calls, shared: the begins and ends requested in
 * the same turn of the event loop — or while the previous batch is on its way — travel in ONE script
 * call (EVALSHA of {@link LEASE_SCRIPT}), so N concurrent calls cost one Redis round trip (and one
 * socket write) instead of N. The script runs atomically and does each begin's ZADD before its epoch
 * GET, so the revocation ordering of {@link beginTransfer} holds for every call of the batch. A batch's failure fails its begins (their calls do not leave); a
 * failed release only delays a waiting revocation until the lease expires. Fixed-window counts
 * ({@link LeaseBatcher.count}: a rate limit checked alongside a gate call) travel in the same call.
 *
 * Releases are not urgent (a lease held a little longer only makes a revocation wait a little
 * longer, never lets a call through): they wait up to {@link RELEASE_DELAY_MS} for the next batch of
 * begins — usually the same callers' next calls — instead of costing a round trip of their own.
 */
export class LeaseBatcher {
  private pending: LeaseOp[] = [];
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private drained: Promise<void> = Promise.resolve();
  /** Batches sent (for tests and benchmarks). */
  batches = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** As {@link beginTransfer}: registers (or extends) a lease and returns the epoch (null = never bumped). */
  begin(connectionId: string, leaseId: string): Promise<string | null> {
    return new Promise((resolve, reject) => this.push({ kind: 'begin', connectionId, leaseId, resolve, reject }));
  }

  /** As {@link endTransfer}: releases a lease (idempotent). */
  end(connectionId: string, leaseId: string): Promise<void> {
    return new Promise((resolve, reject) => this.push({ kind: 'end', connectionId, leaseId, resolve: () => resolve(), reject }));
  }

  /**
   * Counts one hit of the fixed-window counter `key` (SET NX with the window as expiry, INCR, PTTL: the
   * window starts at the key's first hit) in the next batch — a rate limit checked right before a gate
   * call (an iCal poll) then shares the script call of the call's lease instead of costing its own.
   */
  count(key: string, windowMs: number): Promise<WindowHit> {
    return new Promise((resolve, reject) => this.push({ kind: 'count', key, windowMs, resolve, reject }));
  }

  /** Resolves once every lease operation requested before the call has been sent and answered. */
  async idle(): Promise<void> {
    if (!this.busy && this.pending.length) this.start();
    await this.drained;
  }

  private push(op: LeaseOp): void {
    this.pending.push(op);
    if (this.busy) return;
    if (op.kind === 'end') {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        if (!this.busy) this.start();
      }, RELEASE_DELAY_MS);
      return;
    }
    this.busy = true;
    this.drained = new Promise<void>((done) => setImmediate(() => void this.drain().then(done)));
  }

  private start(): void {
    this.busy = true;
    this.drained = this.drain();
  }

  private async drain(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    try {
      while (this.pending.length) {
        const ops = this.pending.splice(0, 500);
        await this.send(ops);
      }
    } finally {
      this.busy = false;
    }
  }

  private async send(ops: LeaseOp[]): Promise<void> {
    this.batches++;
    // One script call for the batch: KEYS are each op's lease set (and, for a begin, its epoch key);
    // ARGV the expiry score, the key TTL, then one kind+lease id pair per op.
    const keys: string[] = [];
    const args: string[] = [String(Date.now() + LEASE_TTL_MS), String(LEASE_TTL_MS * 2)];
    for (const op of ops) {
      if (op.kind === 'count') {
        keys.push(op.key);
        args.push('c', String(op.windowMs));
        continue;
      }
      keys.push(inflightKey(this.prefix, op.connectionId));
      if (op.kind === 'begin') keys.push(revocationEpochKey(this.prefix, op.connectionId));
      args.push(op.kind === 'begin' ? 'b' : 'e', op.leaseId);
    }
    let replies: unknown;
    try {
      replies = await runLeaseScript(this.redis, keys, args);
    } catch (err) {
      for (const op of ops) op.reject(err);
      return;
    }
    const list = Array.isArray(replies) ? (replies as unknown[]) : [];
    ops.forEach((op, i) => {
      // Per op: 1 and the epoch (a begin; false = never bumped), 1 (an end) or 1 and {count, ms left}
      // (a count); 0 and the error.
      const ok = list[2 * i];
      const value = list[2 * i + 1];
      // A begin whose ZADD failed has no lease: it must not leave.
      if (ok !== 1) op.reject(new Error(`in-flight lease: ${typeof value === 'string' ? value : 'no reply'}`));
      else if (op.kind === 'count') {
        const [n, ttl] = Array.isArray(value) ? (value as unknown[]) : [];
        op.resolve({ count: Number(n), msLeft: Math.max(0, Number(ttl)) });
      } else op.resolve(typeof value === 'string' ? value : null);
    });
  }
}

/**
 * The lease batch as one Lua script (atomic, so each begin's ZADD precedes its epoch GET with nothing
 * in between, as in a MULTI): one command to send and parse instead of MULTI, three commands per begin
 * and EXEC. Each op runs under `pcall`, so one op's error (a key of the wrong type) fails that op only,
 * as a failed command inside a MULTI did. Replies: per op, 1 and its value or 0 and the error text.
 */
const LEASE_SCRIPT = `
local expires, ttl = ARGV[1], ARGV[2]
local out = {}
local k = 1
for i = 3, #ARGV, 2 do
  local lease = ARGV[i + 1]
  if ARGV[i] == 'b' then
    local r = redis.pcall('ZADD', KEYS[k], expires, lease)
    if type(r) == 'table' and r.err then
      out[#out + 1] = 0; out[#out + 1] = r.err
    else
      redis.pcall('PEXPIRE', KEYS[k], ttl)
      local e = redis.pcall('GET', KEYS[k + 1])
      if type(e) == 'table' and e.err then
        out[#out + 1] = 0; out[#out + 1] = e.err
      else
        out[#out + 1] = 1; out[#out + 1] = e
      end
    end
    k = k + 2
  elseif ARGV[i] == 'c' then
    -- A fixed-window counter (the argument is the window, ms): start it, count, read the time left.
    redis.pcall('SET', KEYS[k], '0', 'PX', lease, 'NX')
    local n = redis.pcall('INCR', KEYS[k])
    if type(n) == 'table' and n.err then
      out[#out + 1] = 0; out[#out + 1] = n.err
    else
      out[#out + 1] = 1; out[#out + 1] = { n, redis.pcall('PTTL', KEYS[k]) }
    end
    k = k + 1
  else
    local r = redis.pcall('ZREM', KEYS[k], lease)
    if type(r) == 'table' and r.err then
      out[#out + 1] = 0; out[#out + 1] = r.err
    else
      out[#out + 1] = 1; out[#out + 1] = 1
    end
    k = k + 1
  end
end
return out
`;
/** EVALSHA of {@link LEASE_SCRIPT} (EVAL when the server does not know it yet). */
const runLeaseScript = redisScript(LEASE_SCRIPT);

type LeaseOp =
  | { kind: 'begin' | 'end'; connectionId: string; leaseId: string; resolve(epoch: string | null): void; reject(err: unknown): void }
  | { kind: 'count'; key: string; windowMs: number; resolve(hit: WindowHit): void; reject(err: unknown): void };

/** One hit of a fixed-window counter: the count in the window so far (this hit included) and the time left (ms). */
export interface WindowHit {
  count: number;
  msLeft: number;
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
