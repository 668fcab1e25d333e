import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import { calendarStore } from '../../sandbox/google/calendar.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from './support/env.ts';
import { until, workerDatabaseReachable, workerProcesses } from './support/worker-processes.ts';

/**
 * A worker process killed (SIGKILL) in the middle of a reconcile, then another started: BullMQ's
 * stalled-job recovery hands the job over, the reconcile resumes from sync_state, and the calendar
 * converges to exactly the desired events — none missing, none twice, each created once. Needs
 * PostgreSQL (the worker processes share the database): TEST_DATABASE_URL, or the local server.
 */

const pgReachable = await workerDatabaseReachable();
const N = 300;
let env: SyncEnv;
const workers = workerProcesses(() => env);

describe.skipIf(!pgReachable)('a sync worker killed mid-run', () => {
  beforeAll(async () => {
    env = await createSyncEnv({ env: { SYNC_JOB_LOCK_SECONDS: '2' } });
  });
  afterAll(async () => {
    workers.killAll();
    await env?.close();
  });

  it('is replaced by another worker and the calendar converges with no duplicate and nothing missing', async () => {
    const connectionId = await env.connect(); // the first reconcile waits in the queue: no worker runs yet
    const calendarId = await env.calendarId(connectionId);
    // Slow inserts down so the kill lands in the middle of the run.
    env.sandbox.state.addFault({ provider: 'google', kind: 'delay', delayMs: 25, method: 'POST', path: '/events$' });
    await env.ingest(caseWithEvents({ caseId: 'crash', assignee: env.org.member.email, n: N }));

    const first = await workers.start();
    await until(() => env.writes().filter((w) => w.path.endsWith('/events')).length >= 60, 60_000, 'the first worker to write');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const writtenBeforeCrash = env.writes().filter((w) => w.path.endsWith('/events')).length;
    expect(writtenBeforeCrash).toBeLessThan(N);

    const second = await workers.start();
    await env.waitIdle(120_000);

    const ids = (await env.t.services.db.selectFrom('case_events').select('id').execute()).map((r) => googleEventId(connectionId, r.id));
    const live = calendarStore(env.sandbox.state).liveEventsOf(calendarId);
    expect(live).toHaveLength(N);
    expect(new Set(live.map((e) => e.id))).toEqual(new Set(ids));
    // Each event was created exactly once (a re-sent create after the crash answered 409 and became an update).
    const created = env.writes().filter((w) => w.method === 'POST' && w.path.endsWith('/events'));
    expect(created).toHaveLength(N);
    expect(new Set(created.map((w) => (w.object as { id: string }).id)).size).toBe(N);
    const state = await env.t.services.db
      .selectFrom('sync_state')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('connection_id', '=', connectionId)
      .executeTakeFirstOrThrow();
    expect(Number(state.n)).toBe(N);

    // Every provider write has its write-ahead intent in the transfer log, even those of the killed worker.
    const intents = await env.t.services.db
      .selectFrom('transfer_log')
      .select('item_key')
      .where('connection_id', '=', connectionId)
      .where('outcome', '=', 'intent')
      .execute();
    const intentKeys = new Set(intents.map((r) => r.item_key));
    for (const w of env.writes().filter((x) => x.path.includes('/events'))) {
      const props = (w.object as { extendedProperties?: { private?: { casebridgeEventId?: string } } }).extendedProperties?.private;
      expect(intentKeys.has(`event:${props?.casebridgeEventId}`)).toBe(true);
    }

    // Graceful shutdown: SIGTERM lets the worker close and exit 0.
    second.kill('SIGTERM');
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(0);
  }, 240_000);
});
