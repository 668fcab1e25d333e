import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import { FULL_RECONCILE_JOB } from '../../queues/definitions.ts';
import { calendarStore } from '../../sandbox/google/calendar.ts';
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from './support/env.ts';
import { until, workerDatabaseReachable } from './support/worker-processes.ts';

/**
 * Graceful shutdown of a real worker process (`src/main.ts worker`): its health says whether it
 * consumes; SIGTERM turns readiness false first, stops taking jobs, lets a running sync stop at its
 * chunk boundary (or, past SHUTDOWN_GRACE_SECONDS, hands the job back to the queue at once) and exits
 * 0; the next worker finishes the run with nothing missing and nothing twice. Needs PostgreSQL.
 */

const pgReachable = await workerDatabaseReachable();
const N = 300;
const LOCK_SECONDS = 4;
let env: SyncEnv;
const started: ServiceProcess[] = [];

async function worker(extra: Record<string, string>): Promise<ServiceProcess> {
  // Calls left without an answer by a worker that left are resolved by reading the provider after
  // 9 s (the sandbox answers hung calls after 8 s), not the default 90 s.
  const p = await startServiceProcess({ role: 'worker', config: env.t.config, env: { TRANSFER_UNKNOWN_SETTLE_MS: '9000', ...extra } });
  started.push(p);
  return p;
}

const eventWrites = () => env.writes().filter((w) => w.method === 'POST' && w.path.endsWith('/events')).length;

describe.skipIf(!pgReachable)('graceful shutdown of a worker process', () => {
  beforeAll(async () => {
    env = await createSyncEnv({ env: { SYNC_JOB_LOCK_SECONDS: String(LOCK_SECONDS) } });
  });
  afterAll(async () => {
    for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await env?.close();
  });

  it('reports consuming, turns not ready on SIGTERM, finishes or hands back its sync within the grace, exits 0', async () => {
    const connectionId = await env.connect(); // the first reconcile waits in the queue: no worker runs yet
    const calendarId = await env.calendarId(connectionId);
    // Slow inserts: a chunk of 50 over 2 lanes of 4 calls takes about 2 s.
    const slow = env.sandbox.state.addFault({ provider: 'google', kind: 'delay', delayMs: 300, method: 'POST', path: '/events$' });
    await env.ingest(caseWithEvents({ caseId: 'sigterm', assignee: env.org.member.email, n: N }));

    // 1. Within the grace: the run stops at its chunk boundary and the job goes back to the queue.
    const a = await worker({ SHUTDOWN_GRACE_SECONDS: '20' });
    const health = (await (await fetch(`${a.url}/healthz`)).json()) as {
      status: string;
      workers: { consuming: boolean; queues: Array<{ queue: string; consuming: boolean }> };
    };
    expect(health.status, JSON.stringify(health)).toBe('ok');
    expect(health.workers.consuming).toBe(true);
    expect(health.workers.queues.map((q) => q.queue).sort()).toEqual(['import', 'maintenance', 'revoke', 'sync', 'webhooks']);
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
    await until(() => eventWrites() >= 60, 60_000, 'the first worker to write');

    const termAt = Date.now();
    a.child.kill('SIGTERM');
    // Readiness is false at once, while the running chunk is still finishing.
    let readiness: { status: number; body: unknown } | null = null;
    await until(
      async () => {
        const res = await fetch(`${a.url}/readyz`).catch(() => null);
        if (res) readiness = { status: res.status, body: await res.json() };
        return res?.status === 503;
      },
      2000,
      'readiness to turn false',
    );
    expect(readiness).toEqual({ status: 503, body: { status: 'shutting_down' } });
    expect(await a.exited, a.output()).toBe(0);
    const aTookMs = Date.now() - termAt;
    expect(aTookMs).toBeLessThan(20_000);
    const afterA = eventWrites();
    expect(afterA).toBeLessThan(N);
    // Not active (a crashed worker's job would stay active until its lock expired): delayed or waiting.
    expect(await env.t.services.queues.sync.getActiveCount()).toBe(0);
    const parked = (await env.t.services.queues.sync.getDelayed()).filter((j) => j.name !== FULL_RECONCILE_JOB);
    expect(parked.map((j) => j.data.connectionId)).toEqual([connectionId]);
    await new Promise((r) => setTimeout(r, 500));
    expect(eventWrites()).toBe(afterA); // nothing written after it exited

    // 2. Past the grace: provider calls hang, the job is handed back (waiting) at once and the process exits 0.
    const b = await worker({ SHUTDOWN_GRACE_SECONDS: '1' });
    await until(() => eventWrites() >= afterA + 20, 60_000, 'the second worker to write');
    const hang = env.sandbox.state.addFault({ provider: 'google', kind: 'delay', delayMs: 8000, method: 'POST', path: '/events$' });
    await until(() => hang.hits >= 1, 10_000, 'a provider call to hang');
    const termB = Date.now();
    b.child.kill('SIGTERM');
    expect(await b.exited, b.output()).toBe(0);
    const bTookMs = Date.now() - termB;
    expect(bTookMs).toBeGreaterThanOrEqual(900);
    expect(bTookMs).toBeLessThan(6000);
    // Handed back, not left to stall: no job active although its lock (4 s) has not expired.
    expect(await env.t.services.queues.sync.getActiveCount()).toBe(0);
    expect(await env.t.services.queues.sync.getWaitingCount()).toBe(1);
    expect(b.output()).toContain('handing running jobs back');
    // Its per-account slots went back as it left, not when their 60 s leases end: the next worker
    // does not wait for slots of calls nobody will finish.
    const redis = env.t.services.redis;
    const [seconds] = await redis.time();
    let slotsHeld = 0;
    for (const key of await redis.keys(`${env.t.config.REDIS_PREFIX}:conc:*`)) slotsHeld += await redis.zcount(key, Number(seconds) * 1000, '+inf');
    expect(slotsHeld).toBe(0);

    // 3. A third worker finishes the run: exactly the desired events, none twice.
    env.sandbox.state.faults = env.sandbox.state.faults.filter((f) => f !== slow && f !== hang);
    const c = await worker({});
    const resumeAt = Date.now();
    await env.waitIdle(120_000);
    const convergeMs = Date.now() - resumeAt;
    // The calls that hung when B left are answered by the sandbox later; wait for them before counting.
    await new Promise((r) => setTimeout(r, 8500 - Math.min(8500, Date.now() - termB)));
    const ids = (await env.t.services.db.selectFrom('case_events').select('id').execute()).map((r) => googleEventId(connectionId, r.id));
    const live = calendarStore(env.sandbox.state).liveEventsOf(calendarId);
    expect(live).toHaveLength(N);
    expect(new Set(live.map((e) => e.id))).toEqual(new Set(ids));
    const created = env.writes().filter((w) => w.method === 'POST' && w.path.endsWith('/events') && w.status < 300);
    expect(new Set(created.map((w) => (w.object as { id: string }).id)).size).toBe(created.length);

    // 4. An idle worker stops at once.
    const termC = Date.now();
    c.child.kill('SIGTERM');
    expect(await c.exited, c.output()).toBe(0);
    expect(Date.now() - termC).toBeLessThan(5000);
    console.log(
      `graceful shutdown: in grace ${aTookMs} ms, past a 1 s grace ${bTookMs} ms, idle ${Date.now() - termC} ms; the third worker converged in ${convergeMs} ms`,
    );
  }, 200_000);
});
