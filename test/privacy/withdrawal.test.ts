import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboundGate } from '../../src/transfers/gate.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertConnection, jobCtx, logRows } from './helpers.ts';

const item = (n: number): TransferItem => ({
  operation: 'create',
  categories: ['calendar.events'],
  subjects: { eventIds: [`e${n}`] },
  recipient: { account: null, destination: 'cal' },
  fields: { title: `event ${n}` },
  itemKey: `event:e${n}`,
});

describe('withdrawal while a job is running', () => {
  let t: TestServices;
  let org: SeededOrg;
  let otherProcessRedis: Redis;
  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services);
    otherProcessRedis = new Redis(t.config.REDIS_URL);
  });
  afterAll(async () => {
    otherProcessRedis.disconnect();
    await t.cleanup();
  });

  /** A gate as another worker process would have it: its own Redis connection and its own consent cache. */
  const workerGate = (epochRecheckMs?: number) =>
    createOutboundGate({
      db: t.services.db,
      redis: otherProcessRedis,
      redisPrefix: t.config.REDIS_PREFIX,
      logger: t.services.logger,
      options: { epochRecheckMs },
    });

  const withdrawByApi = async (connectionId: string) => {
    const headers = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    const res = await t.app.request(`/v1/connections/${connectionId}/consent`, { method: 'DELETE', headers });
    expect(res.status).toBe(200);
  };

  it('stops a sendMany loop at its next call after the user withdraws through the API', async () => {
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    // No re-check inside a chunk here: this test is about the next gate call (the chunk test below
    // covers re-checks between items).
    const gate = workerGate(60_000);
    let withdrawn = false;
    let callsAfterWithdrawal = 0;
    const outcomes: string[][] = [];
    for (let chunk = 0; chunk < 10; chunk++) {
      const results = await gate.sendMany(
        jobCtx(connectionId),
        [item(chunk * 2), item(chunk * 2 + 1)],
        async () => {
          if (withdrawn) callsAfterWithdrawal++;
          // The user withdraws while the third chunk is being sent.
          if (chunk === 2 && !withdrawn) {
            await withdrawByApi(connectionId);
            withdrawn = true;
          }
          return { value: null };
        },
        { concurrency: 1 },
      );
      outcomes.push(results.map((r) => r.outcome));
      if (results.some((r) => r.outcome === 'blocked')) break;
    }
    // Chunks 0-1 went out with a warm cache; chunk 2 was in flight when the withdrawal landed and
    // finished; chunk 3 — the next gate call — is refused as a whole.
    expect(outcomes).toEqual([
      ['sent', 'sent'],
      ['sent', 'sent'],
      ['sent', 'sent'],
      ['blocked', 'blocked'],
    ]);
    expect(callsAfterWithdrawal).toBe(1);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId && r.outcome === 'blocked');
    expect(rows.map((r) => r.reason)).toEqual(['consent_withdrawn', 'consent_withdrawn']);
  });

  it('stops inside one long chunk: items not yet started are refused, and only the one written ahead has an intent', async () => {
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const gate = workerGate(0);
    let performed = 0;
    const results = await gate.sendMany(
      jobCtx(connectionId),
      Array.from({ length: 8 }, (_, i) => item(100 + i)),
      async () => {
        performed++;
        if (performed === 3) await withdrawByApi(connectionId);
        return { value: null };
      },
      { concurrency: 1 },
    );
    expect(performed).toBe(3);
    expect(results.map((r) => r.outcome)).toEqual(['sent', 'sent', 'sent', 'blocked', 'blocked', 'blocked', 'blocked', 'blocked']);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    const blocked = rows.filter((r) => r.outcome === 'blocked');
    expect(blocked).toHaveLength(5);
    // Intents only for the calls that left and those written ahead while they were out (at most two
    // windows of `concurrency`), refused against their intent; the other refused items never looked
    // like transfers (a plain refusal row).
    const intents = rows.filter((r) => r.outcome === 'intent');
    const sentFor = new Set(rows.filter((r) => r.outcome === 'sent').map((r) => r.intent_id));
    expect(intents.length).toBeLessThanOrEqual(3 + 2);
    expect(blocked.every((r) => r.reason === 'consent_withdrawn')).toBe(true);
    const againstIntent = blocked.filter((r) => r.intent_id !== null);
    expect(againstIntent.every((r) => !sentFor.has(r.intent_id))).toBe(true);
    expect(againstIntent.length + 3).toBe(intents.length);
    expect(blocked.filter((r) => r.intent_id === null).length).toBeGreaterThanOrEqual(3);
  });
});
