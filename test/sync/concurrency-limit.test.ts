import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AccountConcurrencyLimiter } from '../../queues/concurrency-limit.ts';

/**
 * The manifest's per-account `concurrency` across worker processes: two workers, each with its own
 * Redis connection and limiter (as two processes have), share one account's slots on a real Redis.
 */
describe('per-account concurrency limit shared in Redis', () => {
  const connections: Redis[] = [];
  const prefixes: string[] = [];
  const redisOf = () => {
    const r = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    connections.push(r);
    return r;
  };
  afterAll(async () => {
    const r = connections[0] ?? redisOf();
    for (const prefix of prefixes) {
      const keys = await r.keys(`${prefix}:*`);
      if (keys.length) await r.del(...keys);
    }
    await Promise.all(connections.map((c) => (c.status === 'end' ? undefined : c.quit())));
  });

  /** Two workers' limiters for the same platform. */
  const twoWorkers = (limit: number, leaseMs?: number) => {
    const prefix = `t-conc-${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    return [1, 2].map(() => new AccountConcurrencyLimiter({ redis: redisOf(), prefix, platform: 'p', limit, leaseMs }));
  };

  it('never lets two workers together hold more slots of an account than the limit, and every caller gets its turn', async () => {
    const workers = twoWorkers(4);
    let inFlight = 0;
    let peak = 0;
    let done = 0;
    const call = async (limiter: AccountConcurrencyLimiter) => {
      for (;;) {
        const got = await limiter.tryAcquire('alice@example.com');
        if (!got.ok) {
          expect(got.waitMs).toBeGreaterThan(0);
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
        inFlight -= 1;
        done += 1;
        await got.slot.release();
        return;
      }
    };
    // 12 callers on each worker at once.
    await Promise.all(workers.flatMap((w) => Array.from({ length: 12 }, () => call(w))));
    expect(done).toBe(24);
    expect(peak).toBe(4);
    expect(await workers[0]!.inUse('alice@example.com')).toBe(0);
  });

  it('keeps accounts apart', async () => {
    const [a, b] = twoWorkers(1);
    const first = await a!.tryAcquire('one@example.com');
    expect(first.ok).toBe(true);
    expect((await b!.tryAcquire('one@example.com')).ok).toBe(false);
    const other = await b!.tryAcquire('two@example.com');
    expect(other.ok).toBe(true);
    if (first.ok) await first.slot.release();
    if (other.ok) await other.slot.release();
    expect((await b!.tryAcquire('one@example.com')).ok).toBe(true);
  });

  it('frees the slot of a worker that died holding it once its lease ends, while a live holder keeps renewing its own', async () => {
    const [a, b] = twoWorkers(2, 300);
    const live = await a!.tryAcquire('alice@example.com');
    expect(live.ok).toBe(true);
    // The "killed" worker: takes the last slot, then its process is gone (no renewal, no release).
    const redis = connections.at(-1)!;
    const dead = await b!.tryAcquire('alice@example.com');
    expect(dead.ok).toBe(true);
    // Its renewals stop the way a dead process's do, and the slot is never given back.
    redis.disconnect();
    const refused = await a!.tryAcquire('alice@example.com');
    expect(refused.ok).toBe(false);
    expect(refused.ok === false && refused.waitMs).toBeLessThanOrEqual(300);
    await new Promise((r) => setTimeout(r, 450));
    // The dead holder's slot is free again; the live one (renewed every 100 ms) still holds its own.
    const again = await a!.tryAcquire('alice@example.com');
    expect(again.ok).toBe(true);
    expect((await a!.tryAcquire('alice@example.com')).ok).toBe(false);
    if (live.ok) await live.slot.release();
    if (again.ok) await again.slot.release();
  });

  it('takes several slots in one call, only as many as are free, and gives them back together', async () => {
    const [a, b] = twoWorkers(5, 300);
    const three = await a!.tryAcquire('alice@example.com', 3);
    expect(three.ok && three.slot.count).toBe(3);
    // Two left: a holder asking for four gets those two; then nothing is free.
    const rest = await b!.tryAcquire('alice@example.com', 4);
    expect(rest.ok && rest.slot.count).toBe(2);
    expect(await a!.inUse('alice@example.com')).toBe(5);
    const refused = await b!.tryAcquire('alice@example.com', 2);
    expect(refused.ok).toBe(false);
    // Renewed together past the lease (every 100 ms): all five are still held after 450 ms.
    await new Promise((r) => setTimeout(r, 450));
    expect(await a!.inUse('alice@example.com')).toBe(5);
    if (three.ok) await three.slot.release();
    expect(await a!.inUse('alice@example.com')).toBe(2);
    const again = await b!.tryAcquire('alice@example.com', 4);
    expect(again.ok && again.slot.count).toBe(3);
    if (rest.ok) await rest.slot.release();
    if (again.ok) await again.slot.release();
    expect(await a!.inUse('alice@example.com')).toBe(0);
  });

  it('gives back every slot a process holds at once (a shutdown handing its jobs back), not when the leases end', async () => {
    const [leaving, next] = twoWorkers(2, 60_000);
    const held = [await leaving!.tryAcquire('alice@example.com'), await leaving!.tryAcquire('bob@example.com')];
    expect(held.every((h) => h.ok)).toBe(true);
    const other = await next!.tryAcquire('alice@example.com');
    expect(other.ok).toBe(true);
    expect((await next!.tryAcquire('alice@example.com')).ok).toBe(false);
    await leaving!.releaseAll();
    expect(await next!.inUse('alice@example.com')).toBe(1); // only the other process's own slot
    expect(await next!.inUse('bob@example.com')).toBe(0);
    const taken = await next!.tryAcquire('alice@example.com');
    expect(taken.ok).toBe(true);
    // A late release by the abandoned holder changes nothing; the other process's slots are untouched.
    for (const h of held) if (h.ok) await h.slot.release();
    expect(await next!.inUse('alice@example.com')).toBe(2);
    if (other.ok) await other.slot.release();
    if (taken.ok) await taken.slot.release();
  });
});
