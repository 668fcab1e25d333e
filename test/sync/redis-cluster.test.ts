import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderRateLimiter } from '../../queues/rate-limit.ts';
import { redisClusterToolsAvailable, startRedisCluster } from '../support/redis-cluster.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from './support/env.ts';

/**
 * Casebridge on a Redis Cluster (REDIS_CLUSTER_NODES) of 3 masters the test starts on loopback
 * ports: sessions, OAuth state, BullMQ queues and workers, the run lease and the Lua rate limiter
 * all work, and every key Casebridge wrote lies in one slot (the prefix is a hash tag), so no script
 * or transaction crosses slots — the account and project budgets of one acquisition included.
 */

const tools = await redisClusterToolsAvailable();
let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
let env: SyncEnv;

describe.skipIf(!tools)('Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    env = await createSyncEnv({
      env: { REDIS_URL: `redis://127.0.0.1:${cluster.ports[0]}`, REDIS_CLUSTER_NODES: cluster.nodes },
    });
  }, 60_000);
  afterAll(async () => {
    await env?.close();
    await cluster?.stop();
  });

  it('syncs a calendar through BullMQ on the cluster, with every key in one slot', async () => {
    expect(env.t.services.redis).toBeInstanceOf(Cluster);
    const prefix = env.t.config.REDIS_PREFIX;
    expect(prefix).toMatch(/^\{[^{}]+\}$/);

    // Session (cookie → Redis), OAuth state (a Lua script), then a run on the cluster's queues.
    const connectionId = await env.connect();
    const calendarId = await env.calendarId(connectionId);
    await env.ingest(caseWithEvents({ caseId: 'cluster', assignee: env.org.member.email, n: 60 }));
    await env.startWorkers();
    await env.waitIdle(60_000);
    expect(env.liveEvents(calendarId)).toHaveLength(60);

    // The Lua limiter: account and project budgets in one script, refusing once the budget is spent.
    const limiter = new ProviderRateLimiter({
      redis: env.t.services.redis,
      prefix,
      platform: 'cluster_probe',
      perAccount: { limit: 20, windowMs: 60_000 },
      perProject: { limit: 1000, windowMs: 60_000 },
    });
    expect(await limiter.acquire('a', 19)).toEqual({ ok: true });
    const refused = await limiter.acquire('a', 1);
    expect(refused.ok).toBe(false);
    expect(await limiter.acquire('b', 10)).toEqual({ ok: true });

    // Every key Casebridge and BullMQ wrote, over all three masters: one slot, on one node.
    const keys: string[] = [];
    for (const port of cluster.ports) {
      const node = new Redis(port, '127.0.0.1', { lazyConnect: true });
      await node.connect();
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      node.disconnect();
    }
    const ours = keys.filter((k) => k.includes(prefix));
    expect(ours.length).toBe(keys.length); // nothing outside the hash tag
    expect(ours.some((k) => k.startsWith(`bull:${prefix}:sync:`))).toBe(true);
    expect(ours.some((k) => k.includes(':rlog:'))).toBe(true);
    expect(ours.some((k) => k.includes('session'))).toBe(true);
    const probe = env.t.services.redis as Cluster;
    const slots = new Set<number>();
    for (const k of ours.slice(0, 200)) slots.add(Number(await probe.cluster('KEYSLOT', k)));
    expect(slots.size).toBe(1);
  }, 90_000);
});
