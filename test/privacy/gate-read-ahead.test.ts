import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOnPath, type PrivateRedis, startPrivateRedis } from '../../src/demo/private-redis.ts';
import { createOutboundGate } from '../../src/transfers/gate.ts';
import { inflightCount } from '../../src/transfers/inflight.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertConnection, jobCtx, logRows } from './helpers.ts';

/**
 * A chunk reads the revocation epoch ahead while its calls are out (a timer planned when a call
 * leaves, when calls take about the re-check interval), so the calls of the next wave need not wait
 * for Redis. Each read also registers the chunk's lease: no read may land after the chunk released
 * it, or a revocation would wait for a lease nobody holds. The chunks below (calls of 0–20 ms, the last
 * ones short) leave reads planned at their end; on a real Redis and database, for chunks that end
 * normally and chunks that stop half-way. That withdrawals still stop a chunk between items is
 * test/privacy/withdrawal.test.ts.
 */

const RECHECK_MS = 25;

/** A fixed pseudo-random sequence in [0, 1) (the same durations on every run). */
function sequence(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

const item = (n: number): TransferItem => ({
  operation: 'create',
  categories: ['calendar.events'],
  subjects: { eventIds: [`ra${n}`] },
  recipient: { account: null, destination: 'cal' },
  fields: { title: `event ${n}` },
  itemKey: `event:ra${n}`,
});

describe('the epoch read ahead of a chunk', () => {
  let t: TestServices;
  let org: SeededOrg;
  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services);
  });
  afterAll(async () => {
    await t.cleanup();
  });

  const gate = () =>
    createOutboundGate({
      db: t.services.db,
      redis: t.services.redis,
      redisPrefix: t.config.REDIS_PREFIX,
      logger: t.services.logger,
      options: { epochRecheckMs: RECHECK_MS },
    });
  const connection = async () => {
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    return connectionId;
  };
  /** After the chunk, past any read a timer could still have planned (at most 60% of the interval ahead). */
  const leasesLeft = async (connectionId: string) => {
    await sleep(10 * RECHECK_MS);
    return inflightCount(t.services.redis, t.config.REDIS_PREFIX, connectionId);
  };

  it('chunks that end normally: every item sent, no lease left once they return', async () => {
    const connectionId = await connection();
    // Calls of 0–20 ms in four lanes, the last ones short: reads get planned at every point of a
    // chunk, its end included.
    const next = sequence(7);
    for (let chunk = 0; chunk < 12; chunk++) {
      const results = await gate().sendMany(
        jobCtx(connectionId),
        Array.from({ length: 12 }, (_, i) => item(chunk * 100 + i)),
        async (_fields, _item, i) => {
          await sleep(i < 8 ? Math.round(next() * 20) : 0);
          return { value: null };
        },
        { concurrency: 4 },
      );
      expect(results.map((r) => r.outcome)).toEqual(Array(12).fill('sent'));
    }
    expect(await leasesLeft(connectionId)).toBe(0);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.filter((r) => r.outcome === 'intent')).toHaveLength(144);
    expect(rows.filter((r) => r.outcome === 'sent')).toHaveLength(144);
  });

  it('chunks that stop half-way (their caller failing): no lease left either', async () => {
    const connectionId = await connection();
    const next = sequence(11);
    for (let chunk = 0; chunk < 12; chunk++) {
      const failing = gate().sendMany(
        jobCtx(connectionId),
        Array.from({ length: 12 }, (_, i) => item(10_000 + chunk * 100 + i)),
        async (_fields, _item, i) => {
          await sleep(i < 6 ? Math.round(next() * 20) : 0);
          return { value: null };
        },
        {
          concurrency: 4,
          beforeSend: (_item, i) => {
            if (i === 9) throw new Error('the caller gave up');
            return null;
          },
        },
      );
      await expect(failing).rejects.toThrow('the caller gave up');
    }
    expect(await leasesLeft(connectionId)).toBe(0);
  });
});

/**
 * Between items, a read older than the re-check interval is renewed in the background: the next call
 * leaves on the last read while that is younger than twice the interval, and waits only past that.
 * Shown with a real Redis that holds the re-read back (`CLIENT PAUSE … WRITE` holds the lease script):
 * a private redis-server, so no other test is paused.
 */
describe('the epoch re-read between items', () => {
  const INTERVAL_MS = 200;
  let redis: PrivateRedis;
  let t: TestServices;
  let org: SeededOrg;
  beforeAll(async () => {
    redis = await startPrivateRedis(findOnPath('redis-server') ?? 'redis-server');
    t = await createTestServices({ REDIS_URL: redis.url });
    org = await seedOrg(t.services);
  });
  afterAll(async () => {
    await t?.cleanup();
    await redis?.stop();
  });

  it('does not hold a call for a read younger than twice the interval, and holds it past that', async () => {
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const gate = createOutboundGate({
      db: t.services.db,
      redis: t.services.redis,
      redisPrefix: t.config.REDIS_PREFIX,
      logger: t.services.logger,
      options: { epochRecheckMs: INTERVAL_MS },
    });
    const PAUSE_MS = 2_000;
    let pauseEnds = Number.POSITIVE_INFINITY;
    const startedAt: number[] = [];
    const admin = t.services.redis.duplicate();
    try {
      const results = await gate.sendMany(
        jobCtx(connectionId),
        [item(50_000), item(50_001), item(50_002)],
        async (_fields, _item, i) => {
          startedAt[i] = Date.now();
          // Each call takes longer than the interval: the next item finds the read older than it.
          await sleep(INTERVAL_MS * 1.25);
          if (i === 0) {
            // Redis holds every write (the lease script included) from now on: the re-read this call's
            // end starts cannot land until the pause is over.
            await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
            pauseEnds = Date.now() + PAUSE_MS;
          }
          return { value: null };
        },
        { concurrency: 1 },
      );
      expect(results.map((r) => r.outcome)).toEqual(['sent', 'sent', 'sent']);
    } finally {
      admin.disconnect();
    }
    // The second call left on the first read (between one and two intervals old) while the re-read was
    // held; the third found it more than two intervals old and waited for the re-read.
    expect(startedAt[1]!).toBeLessThan(pauseEnds - 500);
    expect(startedAt[2]!).toBeGreaterThanOrEqual(pauseEnds - 50);
  });
});
