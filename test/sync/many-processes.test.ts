import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, signInAs } from '../support/fixtures.ts';
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from './support/env.ts';
import { until, workerDatabaseReachable } from './support/worker-processes.ts';

/**
 * Casebridge as a deployment runs it: 2 API processes and 3 worker processes (`src/main.ts api|worker`,
 * separate OS processes) on one Redis and one PostgreSQL, driven over HTTP. Proves, across processes:
 * - a revocation answered by one API process drains the calls in flight in the worker processes and
 *   nothing reaches the provider for that account after its 202;
 * - one reconcile at a time per connection (no create sent twice, no 409 from a concurrent run);
 * - the provider project quota is shared: the sandbox never sees more requests in any sliding minute
 *   than the budget allows, although two worker processes sync at once;
 * - an iCal feed served by either API process is the same bytes with the same ETag.
 * Needs PostgreSQL (processes share it). Sequential; about a minute on two cores.
 */

const pgReachable = await workerDatabaseReachable();
/** Google requests per project per minute: the budget two worker processes share (95% of it is used). */
const PROJECT_BUDGET = 250;
let env: SyncEnv;
let apis: ServiceProcess[] = [];
let workers: ServiceProcess[] = [];
let admin: Record<string, string>;

/** Connects Google Calendar for the signed-in user of `headers` with `account`, through the real OAuth flow on an API process. */
async function connect(api: ServiceProcess, headers: Record<string, string>, account: string): Promise<string> {
  const res = await fetch(`${api.url}/v1/connections`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: account }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
  const authorize = await fetch(authorizationUrl, { redirect: 'manual' });
  expect(authorize.status).toBe(302);
  const back = new URL(authorize.headers.get('location')!);
  const cb = await fetch(`${api.url}${back.pathname}${back.search}`, { headers: { ...headers, accept: 'application/json' } });
  expect(cb.status, await cb.clone().text()).toBe(200);
  return connection.id;
}

async function ingest(api: ServiceProcess, items: unknown[]): Promise<void> {
  const res = await fetch(`${api.url}/v1/ingest/bulk`, {
    method: 'POST',
    headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** The most entries of `times` (ms, any order) within any `windowMs`. */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe.skipIf(!pgReachable)('2 API processes and 3 worker processes on one Redis and one PostgreSQL', () => {
  beforeAll(async () => {
    env = await createSyncEnv({
      env: {
        SYNC_JOB_LOCK_SECONDS: '4',
        GOOGLE_USER_RATE_PER_MINUTE: '60000',
        GOOGLE_PROJECT_RATE_PER_MINUTE: String(PROJECT_BUDGET),
      },
    });
    admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    await fetch(`${env.sandbox.url}/_sandbox/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'carol@hartmann-law.example',
        name: 'Carol Weiss',
        sub: '100000000000000000003',
        hd: 'hartmann-law.example',
        emailVerified: true,
      }),
    });
    const config = env.t.config;
    // One run per worker process at a time: two connections syncing at once are in two processes.
    const common = { REVOCATION_DRAIN_TIMEOUT_MS: '5000', ICAL_RATE_LIMIT_PER_MINUTE: '10000', SHUTDOWN_GRACE_SECONDS: '2', SYNC_CONCURRENCY: '1' };
    // Started one after the other: five cold starts at once on two cores take longer than in turn.
    for (let i = 0; i < 2; i++) apis.push(await startServiceProcess({ role: 'api', config, env: common }));
    for (let i = 0; i < 3; i++) workers.push(await startServiceProcess({ role: 'worker', config, env: common }));
  }, 120_000);
  afterAll(async () => {
    const all = [...apis, ...workers];
    for (const p of all) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    await Promise.race([Promise.all(all.map((p) => p.exited)), new Promise((r) => setTimeout(r, 8000))]);
    for (const p of all) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    apis = [];
    workers = [];
    await env?.close();
  });

  it('a revocation answered by one API process drains the calls in flight in the worker processes', async () => {
    const [api1, api2] = apis as [ServiceProcess, ServiceProcess];
    const bob = 'bob@hartmann-law.example';
    const connectionId = await connect(api2, env.member, bob);
    // Bob's inserts take 1.2 s each at the provider: there are calls in flight when the revocation comes.
    env.sandbox.state.addFault({ provider: 'google', account: bob, kind: 'delay', delayMs: 1200, method: 'POST', path: '/events$' });
    await ingest(api2, caseWithEvents({ caseId: 'rev', assignee: env.org.member.email, n: 40 }));
    const open = async () => {
      const rows = await env.t.services.db
        .selectFrom('transfer_log')
        .select(['id', 'intent_id', 'outcome'])
        .where('connection_id', '=', connectionId)
        .execute();
      return rows.filter((r) => r.outcome === 'intent' && !rows.some((o) => o.intent_id === r.id)).length;
    };
    await until(async () => (await open()) > 0, 30_000, 'calls in flight for bob');

    const started = Date.now();
    const res = await fetch(`${api1.url}/v1/admin/revocations`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId }, reason: 'many processes' }),
    });
    const seqAt202 = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    expect(res.status, await res.clone().text()).toBe(202);
    const tookMs = Date.now() - started;
    // Drained: every call that had left got its answer before the 202 (the drain limit is 5 s, a call 1.2 s).
    expect(await open()).toBe(0);
    const { revocation } = (await res.json()) as { revocation: { callsOutcomeUnknown?: unknown[] } };
    expect(revocation.callsOutcomeUnknown ?? []).toEqual([]);
    await new Promise((r) => setTimeout(r, 2500));
    const late = env.sandbox.state.ledger.filter((e) => e.seq > seqAt202 && e.account === bob && e.path.includes('/calendar/'));
    expect(late).toEqual([]);
    console.log(`many processes: revocation answered in ${tookMs} ms with calls in flight in worker processes`);
  }, 60_000);

  it('runs one reconcile at a time per connection and shares the provider quota across worker processes', async () => {
    const [api1, api2] = apis as [ServiceProcess, ServiceProcess];
    const firstSeq = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    const alice = await connect(api1, env.member, 'alice@hartmann-law.example');
    const carol = await connect(api2, admin, 'carol@hartmann-law.example');
    const perCase = 180;
    // Changes in bursts through both API processes, so runs are asked for while others are active.
    const seen = new Map<number, Set<number>>(); // worker index → sync jobs seen running there
    const sample = async () => {
      for (const [i, w] of workers.entries()) {
        const h = (await (await fetch(`${w.url}/healthz`)).json()) as { workers: { queues: Array<{ queue: string; activeJobs: number }> } };
        const active = h.workers.queues.find((q) => q.queue === 'sync')?.activeJobs ?? 0;
        if (active > 0) seen.set(i, (seen.get(i) ?? new Set()).add(active));
      }
    };
    // Which worker processes run sync jobs, sampled every 50 ms while the runs go on.
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    for (let burst = 0; burst < 4; burst++) {
      const n = perCase / 4;
      await ingest(burst % 2 ? api2 : api1, caseWithEvents({ caseId: 'm', assignee: env.org.member.email, n, from: burst * n }));
      await ingest(burst % 2 ? api1 : api2, caseWithEvents({ caseId: 'a', assignee: env.org.admin.email, n, from: burst * n }));
      await sample();
      await new Promise((r) => setTimeout(r, 300));
    }
    // Every Google API call of the project so far (bob's of the first test count too: same minute).
    const projectCalls = () => env.sandbox.state.ledger.filter((e) => e.provider === 'google' && e.path.includes('/calendar/'));
    const busiest = () =>
      maxInWindow(
        projectCalls().map((e) => e.atMs),
        60_000,
      );
    // Both connections want 2 × 180 inserts; the project budget (95% of 250 per minute) stops them first.
    const budget = Math.floor(PROJECT_BUDGET * 0.95);
    // Until both runs wait for budget (our shared limiter delayed their jobs).
    const limited = async () => {
      const jobs = await env.t.services.queues.sync.getJobs(['active', 'waiting', 'delayed']);
      return new Set(jobs.filter((j) => (j.data as { rateLimited?: number }).rateLimited).map((j) => (j.data as { connectionId: string }).connectionId));
    };
    await until(
      async () => {
        await sample();
        const l = await limited();
        return l.has(alice) && l.has(carol);
      },
      40_000,
      'both runs to wait for the shared budget',
    );
    await new Promise((r) => setTimeout(r, 1500));
    sampling = false;
    await sampler;
    const all = projectCalls().filter((e) => e.seq > firstSeq);
    const busiestMinute = busiest();
    expect(busiestMinute).toBeLessThanOrEqual(budget);
    // Points are taken a chunk (up to 50 calls) at a time, so the budget is not used to the last call.
    expect(busiestMinute).toBeGreaterThanOrEqual(budget - 100);
    expect(new Set(all.map((e) => e.account))).toEqual(new Set(['alice@hartmann-law.example', 'carol@hartmann-law.example']));
    // The two connections' runs went to different worker processes at the same time.
    expect(seen.size).toBeGreaterThanOrEqual(2);

    // One reconcile at a time per connection: a second run of the same connection would send the
    // same inserts again (409 at the provider) — none was sent twice, none conflicted.
    const inserts = all.filter((e) => e.method === 'POST' && e.path.endsWith('/events'));
    expect(inserts.length).toBeGreaterThan(100);
    expect(inserts.filter((e) => e.status >= 300)).toEqual([]);
    const ids = inserts.map((e) => (e.object as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const connectionId of [alice, carol]) {
      const dup = await env.t.services.db
        .selectFrom('transfer_log')
        .select(['item_key', (eb) => eb.fn.countAll().as('n')])
        .where('connection_id', '=', connectionId)
        .where('outcome', '=', 'sent')
        .where('operation', '=', 'create')
        .groupBy('item_key')
        .having((eb) => eb.fn.countAll(), '>', 1)
        .execute();
      expect(dup).toEqual([]);
    }
    console.log(
      `many processes: ${all.length} provider calls, busiest minute ${busiestMinute} of a budget of ${budget}; sync jobs seen in ${seen.size} worker processes`,
    );
  }, 90_000);

  it('serves an iCal feed from either API process as the same bytes with the same ETag', async () => {
    const [api1, api2] = apis as [ServiceProcess, ServiceProcess];
    const res = await fetch(`${api1.url}/v1/ical-feeds`, {
      method: 'POST',
      headers: { ...env.member, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'My cases', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const path = new URL(((await res.json()) as { url: string }).url).pathname;
    const one = await fetch(`${api1.url}${path}`);
    const two = await fetch(`${api2.url}${path}`);
    expect(one.status).toBe(200);
    expect(two.status).toBe(200);
    const [a, b] = [Buffer.from(await one.arrayBuffer()), Buffer.from(await two.arrayBuffer())];
    expect(a.length).toBeGreaterThan(1000);
    expect(a.equals(b)).toBe(true);
    expect(one.headers.get('etag')).toBeTruthy();
    expect(two.headers.get('etag')).toBe(one.headers.get('etag'));
    const again = await fetch(`${api2.url}${path}`, { headers: { 'if-none-match': one.headers.get('etag')! } });
    expect(again.status).toBe(304);
  }, 30_000);
});
