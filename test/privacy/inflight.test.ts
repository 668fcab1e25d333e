import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { bumpRevocationEpoch } from '../../src/consent/service.ts';
import { beginTransfer, endTransfer, waitForInflightTransfers } from '../../src/transfers/inflight.ts';

/** The in-flight leases a revocation drains, on a real Redis under a private prefix. */
describe('in-flight leases', () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `t-inflight-${randomUUID()}`;
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('a drain reports the calls it waited for, and returns once they end', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await beginTransfer(redis, prefix, { connectionId: a, leaseId: 'l1' });
    await beginTransfer(redis, prefix, { connectionId: a, leaseId: 'l2' });
    await beginTransfer(redis, prefix, { connectionId: b, leaseId: 'l3' });
    setTimeout(() => {
      void endTransfer(redis, prefix, { connectionId: a, leaseId: 'l1' });
      void endTransfer(redis, prefix, { connectionId: a, leaseId: 'l2' });
      void endTransfer(redis, prefix, { connectionId: b, leaseId: 'l3' });
    }, 100);
    const started = Date.now();
    expect(await waitForInflightTransfers(redis, prefix, [a, b])).toEqual({ waitedFor: 3, stillRunning: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(await waitForInflightTransfers(redis, prefix, [a, b])).toEqual({ waitedFor: 0, stillRunning: 0 });
  });

  it('a drain that runs out of time says how many calls were still running', async () => {
    const c = randomUUID();
    await beginTransfer(redis, prefix, { connectionId: c, leaseId: 'stuck' });
    expect(await waitForInflightTransfers(redis, prefix, [c], { timeoutMs: 60 })).toEqual({ waitedFor: 1, stillRunning: 1 });
    await endTransfer(redis, prefix, { connectionId: c, leaseId: 'stuck' });
  });

  it('the lease comes with the revocation epoch, which a bump changes', async () => {
    const d = randomUUID();
    expect(await beginTransfer(redis, prefix, { connectionId: d, leaseId: 'x' })).toBeNull();
    await bumpRevocationEpoch(redis, prefix, [d]);
    const first = await beginTransfer(redis, prefix, { connectionId: d, leaseId: 'y' });
    expect(first).not.toBeNull();
    await bumpRevocationEpoch(redis, prefix, [d]);
    expect(await beginTransfer(redis, prefix, { connectionId: d, leaseId: 'z' })).not.toBe(first);
    for (const leaseId of ['x', 'y', 'z']) await endTransfer(redis, prefix, { connectionId: d, leaseId });
    expect(await waitForInflightTransfers(redis, prefix, [d])).toEqual({ waitedFor: 0, stillRunning: 0 });
  });
});
