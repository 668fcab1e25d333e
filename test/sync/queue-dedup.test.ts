import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseWithEvents, createSyncEnv, eventItem, type SyncEnv } from './support/env.ts';

/**
 * The sync queue's deduplication: a burst of change notifications becomes one job per connection,
 * and a change that lands while that connection's run is active still gets its own run afterwards.
 */

let env: SyncEnv;
let connectionId: string;
let caseId: string;

beforeAll(async () => {
  env = await createSyncEnv();
  connectionId = await env.connect(); // no workers yet: the first reconcile waits in the queue
  await env.ingest(caseWithEvents({ caseId: 'burst', assignee: env.org.member.email, n: 0 }));
  caseId = (await env.t.services.db.selectFrom('cases').select('id').where('external_id', '=', 'burst').executeTakeFirstOrThrow()).id;
});
afterAll(async () => env.close());

describe('sync jobs', () => {
  it('a burst of 1,000 change notifications leaves one waiting job for the connection', async () => {
    const { changeFeed, queues } = env.t.services;
    for (let i = 0; i < 1000; i++) {
      await changeFeed.publish({ organizationId: env.org.organizationId, caseIds: [caseId], entities: ['event'] });
    }
    const waiting = (await queues.sync.getWaiting()).filter((j) => j.name === 'sync');
    expect(waiting.map((j) => (j.data as { connectionId: string }).connectionId)).toEqual([connectionId]);
  });

  it('a change during an active run is synced by exactly one follow-up run', async () => {
    await env.ingest(caseWithEvents({ caseId: 'burst', assignee: env.org.member.email, n: 60 }));
    env.sandbox.state.addFault({ provider: 'google', kind: 'delay', delayMs: 40, method: 'POST', path: '/events$' });
    await env.startWorkers({ sync: { chunkSize: 10, itemConcurrency: 2 } });
    // Wait until the run is writing (its desired set is fixed), then change the data.
    const deadline = Date.now() + 60_000;
    while (env.writes().filter((w) => w.path.endsWith('/events')).length < 5) {
      if (Date.now() > deadline) throw new Error('the run did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await env.t.services.queues.sync.getActiveCount()).toBe(1);
    for (let i = 0; i < 20; i++) await env.ingest([eventItem('burst', 60, `Late ${i}`)]);
    await env.waitIdle(120_000);
    env.sandbox.state.faults = [];
    const calendarId = await env.calendarId(connectionId);
    const live = env.liveEvents(calendarId);
    expect(live).toHaveLength(61);
    expect(live.map((e) => e.summary)).toContain('PI-burst: Late 19 60');
    const completed = (await env.t.services.queues.sync.getCompleted()).filter((j) => j.name === 'sync');
    // The queued first run, and one follow-up for all 20 late changes.
    expect(completed).toHaveLength(2);
  }, 120_000);
});
