import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bumpRevocationEpoch } from '../../src/consent/service.ts';
import { redisKey } from '../../src/redis.ts';
import { createOutboundGate } from '../../src/transfers/gate.ts';
import { inflightCount, LeaseBatcher } from '../../src/transfers/inflight.ts';
import { TransferLogWriter } from '../../src/transfers/log-writer.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertConnection, jobCtx } from './helpers.ts';

/**
 * Group commit in the gate: what concurrent callers in one process share (one Redis script call for their
 * leases, one statement for their intents, one for their `not_modified` rows) and what they still
 * keep apart (a failed intent statement makes none of its calls).
 */
describe('lease batching', () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `t-leases-${randomUUID()}`;
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('registers the leases of concurrent calls in one script call, each with its own epoch, and releases them together', async () => {
    const leases = new LeaseBatcher(redis, prefix);
    const [a, b] = [randomUUID(), randomUUID()];
    await bumpRevocationEpoch(redis, prefix, [b]);
    const epochs = await Promise.all(Array.from({ length: 8 }, (_, i) => leases.begin(i % 2 ? b : a, `lease-${i}`)));
    expect(leases.batches).toBe(1);
    expect(epochs.filter((e, i) => i % 2 === 0 && e === null)).toHaveLength(4);
    expect(epochs.filter((e, i) => i % 2 === 1 && typeof e === 'string')).toHaveLength(4);
    expect(await inflightCount(redis, prefix, a)).toBe(4);
    expect(await inflightCount(redis, prefix, b)).toBe(4);
    const ends = Array.from({ length: 8 }, (_, i) => leases.end(i % 2 ? b : a, `lease-${i}`));
    await leases.idle();
    await Promise.all(ends);
    expect(leases.batches).toBe(2);
    expect(await inflightCount(redis, prefix, a)).toBe(0);
    expect(await inflightCount(redis, prefix, b)).toBe(0);
  });

  it('fails only the registration Redis refused within a batch (one script call for the batch)', async () => {
    const leases = new LeaseBatcher(redis, prefix);
    const [good, bad] = [randomUUID(), randomUUID()];
    // A lease set of the wrong type: ZADD fails for this connection only.
    await redis.set(redisKey(prefix, 'inflight', bad), 'not a sorted set');
    const results = await Promise.allSettled([leases.begin(good, 'g'), leases.begin(bad, 'b'), leases.end(good, 'g-old')]);
    expect(leases.batches).toBe(1);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(await inflightCount(redis, prefix, good)).toBe(1);
    await leases.end(good, 'g');
    await leases.idle();
    expect(await inflightCount(redis, prefix, good)).toBe(0);
  });

  it('counts fixed-window hits in the same script call as the leases begun in the same turn (a rate limit beside its lease)', async () => {
    const leases = new LeaseBatcher(redis, prefix);
    const connection = randomUUID();
    const key = redisKey(prefix, 'window', randomUUID());
    const [lease, ...hits] = await Promise.all([
      leases.begin(connection, 'l'),
      leases.count(key, 60_000),
      leases.count(key, 60_000),
      leases.count(key, 60_000),
    ]);
    expect(leases.batches).toBe(1);
    expect(lease).toBeNull();
    expect(hits.map((h) => h.count)).toEqual([1, 2, 3]);
    for (const h of hits) {
      expect(h.msLeft).toBeGreaterThan(59_000);
      expect(h.msLeft).toBeLessThanOrEqual(60_000);
    }
    // The window started at the first hit and is not restarted by later ones.
    expect(await redis.pttl(key)).toBeGreaterThan(59_000);
    expect((await leases.count(key, 1_000)).count).toBe(4);
    expect(await redis.pttl(key)).toBeGreaterThan(2_000);
    // A counter key of the wrong type fails that count only.
    await redis.set(key, 'not a number');
    const results = await Promise.allSettled([leases.count(key, 60_000), leases.begin(connection, 'm')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    await leases.end(connection, 'l');
    await leases.end(connection, 'm');
    await leases.idle();
    expect(await inflightCount(redis, prefix, connection)).toBe(0);
  });

  it('fails every registration of a batch Redis did not take (no lease, no call)', async () => {
    // Nothing listens on port 1: the batch's script call cannot be sent.
    const closed = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    closed.on('error', () => undefined);
    const leases = new LeaseBatcher(closed, prefix);
    const results = await Promise.allSettled([leases.begin(randomUUID(), 'x'), leases.begin(randomUUID(), 'y')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    closed.disconnect();
  });
});

describe('gate group commit', () => {
  let t: TestServices;
  let org: SeededOrg;
  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services);
  });
  afterAll(async () => t.cleanup());

  const item = (key: string): TransferItem => ({
    operation: 'create',
    categories: ['calendar.events'],
    subjects: { eventIds: [key] },
    recipient: { account: null, destination: 'cal-1' },
    fields: { title: `Hearing ${key}`, start: '2026-01-05T09:00:00Z', end: '2026-01-05T10:00:00Z' },
    itemKey: key,
  });

  const activeConnection = async () => {
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id, status: 'active' });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    // One call first, so the connection's state is cached and the next callers start in step.
    expect((await t.services.gate.send(jobCtx(connectionId), item(`warm-${connectionId}`), async () => ({ value: 0 }))).outcome).toBe('sent');
    return connectionId;
  };

  /** Rows inserted by one statement share its transaction id. */
  const statementsOf = async (connectionId: string, outcome: string) => {
    const r = await sql<{ n: number }>`SELECT count(DISTINCT xmin::text)::int AS n FROM transfer_log
      WHERE connection_id = ${connectionId} AND outcome = ${outcome} AND item_key LIKE 'c-%'`.execute(t.services.db);
    return r.rows[0]!.n;
  };

  it('writes the intents of 8 concurrent send callers in one statement, each committed before its call', async () => {
    const connectionId = await activeConnection();
    const intentsSeen: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        t.services.gate.send(jobCtx(connectionId), item(`c-${i}`), async () => {
          const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM transfer_log
            WHERE connection_id = ${connectionId} AND outcome = 'intent' AND item_key = ${`c-${i}`}`.execute(t.services.db);
          intentsSeen.push(r.rows[0]!.n);
          return { value: i, status: 200 };
        }),
      ),
    );
    expect(results.map((r) => r.outcome)).toEqual(Array(8).fill('sent'));
    expect(intentsSeen).toEqual(Array(8).fill(1));
    expect(await statementsOf(connectionId, 'intent')).toBe(1);
    const sent = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM transfer_log WHERE connection_id = ${connectionId} AND outcome = 'sent' AND item_key LIKE 'c-%'`.execute(t.services.db);
    expect(sent.rows[0]!.n).toBe(8);
  });

  it('writes the outcomes of 8 concurrent send callers answered in different turns in one statement, each committed before its caller returns', async () => {
    const connectionId = await activeConnection();
    // A gate whose log holds outcome-only statements long enough that a loaded machine cannot outlast
    // the hold between the eight answers (the default is 2 ms): what is tested is that held outcomes
    // travel together, and that the hold ends as soon as the last announced call has settled.
    const gate = createOutboundGate({
      db: t.services.db,
      redis: t.services.redis,
      redisPrefix: t.config.REDIS_PREFIX,
      logger: t.services.logger,
      log: new TransferLogWriter(t.services.db, { outcomeHoldMs: 10_000 }),
    });
    expect((await gate.send(jobCtx(connectionId), item(`warm-o-${connectionId}`), async () => ({ value: 0 }))).outcome).toBe('sent');
    const returned: string[] = [];
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const r = await gate.send(jobCtx(connectionId), item(`c-o-${i}`), async () => {
          // The calls answer in eight different turns of the event loop, as HTTP answers do.
          for (let hop = 0; hop < i; hop++) await new Promise((resolve) => setImmediate(resolve));
          return { value: i, status: 200 };
        });
        // What the caller sees on return: its own outcome row, committed.
        const row = await sql<{ n: number }>`SELECT count(*)::int AS n FROM transfer_log
          WHERE intent_id = ${r.transferId} AND outcome = 'sent'`.execute(t.services.db);
        if (row.rows[0]!.n === 1) returned.push(r.transferId);
        return r;
      }),
    );
    expect(results.map((r) => r.outcome)).toEqual(Array(8).fill('sent'));
    expect(returned.sort()).toEqual(results.map((r) => r.transferId).sort());
    expect(await statementsOf(connectionId, 'sent')).toBe(1);
    // The hold ended when the last call settled, not at its limit.
    expect(performance.now() - started).toBeLessThan(10_000);
    // The leases were released once the outcomes were committed.
    await gate.settled();
    expect(await inflightCount(t.services.redis, t.config.REDIS_PREFIX, connectionId)).toBe(0);
  });

  it('a database error in a shared intent statement makes none of its calls, and every caller learns it', async () => {
    const connectionId = await activeConnection();
    // One bad row fails the whole multi-row statement: all eight intents are refused together.
    await sql`ALTER TABLE transfer_log ADD CONSTRAINT t_no_boom CHECK (item_key IS DISTINCT FROM 'c-boom') NOT VALID`.execute(t.services.db);
    let calls = 0;
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          t.services.gate.send(jobCtx(connectionId), item(i === 5 ? 'c-boom' : `c-${i}`), async () => {
            calls++;
            return { value: i };
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(8).fill('rejected'));
    } finally {
      await sql`ALTER TABLE transfer_log DROP CONSTRAINT t_no_boom`.execute(t.services.db);
    }
    expect(calls).toBe(0);
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM transfer_log WHERE connection_id = ${connectionId} AND item_key LIKE 'c-%'`.execute(
      t.services.db,
    );
    expect(rows.rows[0]!.n).toBe(0);
    // The writer recovers: the next call goes out with its intent.
    expect((await t.services.gate.send(jobCtx(connectionId), item('c-after'), async () => ({ value: 1 }))).outcome).toBe('sent');
  });

  it('answers concurrent not_modified records once their rows are queued; the rows share one statement', async () => {
    const connectionId = await activeConnection();
    const ctx = { connectionId, purpose: 'ical_feed', actor: { kind: 'feed_fetch' as const, ip: '198.51.100.4', userAgent: 'Calendar/1.0' } };
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => t.services.gate.record(ctx, item(`c-nm-${i}`), { providerStatus: 304 })));
    expect(results.map((r) => r.outcome)).toEqual(Array(8).fill('sent'));
    await t.services.gate.settled();
    expect(await statementsOf(connectionId, 'not_modified')).toBe(1);
    const rows = await sql<{ id: string }>`SELECT id FROM transfer_log WHERE connection_id = ${connectionId} AND outcome = 'not_modified'`.execute(
      t.services.db,
    );
    expect(rows.rows.map((r) => r.id).sort()).toEqual(results.map((r) => r.transferId).sort());
    // Every lease of those calls was released once the rows were committed.
    expect(await inflightCount(t.services.redis, t.config.REDIS_PREFIX, connectionId)).toBe(0);
  });
});
