import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pLimit from 'p-limit';
import { connectorConfigFor } from '../connectors/config-fragments.ts';
import { toGoogleEvent } from '../connectors/google-calendar/apply.ts';
import { openGoogleCalendar } from '../connectors/google-calendar/client.ts';
import { googleCalendar } from '../connectors/google-calendar/index.ts';
import type { GoogleCalendarSettings } from '../connectors/google-calendar/manifest.ts';
import { projectEvents } from '../connectors/google-calendar/project.ts';
import type { Connector, ConnectorSync } from '../connectors/types.ts';
import { FULL_RECONCILE_JOB } from '../queues/definitions.ts';
import { startWorkers } from '../queues/index.ts';
import { ProviderRateLimiter, rateBudgets } from '../queues/rate-limit.ts';
import { createApp } from '../src/api/app.ts';
import type { App } from '../src/api/env.ts';
import { createApiKey } from '../src/auth/api-keys.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import { loadEventsInScope } from '../src/cases/queries.ts';
import { markReauthRequired } from '../src/connections/lifecycle.ts';
import { createTokenAccess, vaultFor } from '../src/connections/token-refresh.ts';
import { currentConsent } from '../src/consent/service.ts';
import type { Services } from '../src/services.ts';
import { reconcileConnection } from '../src/sync/reconcile.ts';
import { gateScope } from '../src/transfers/gate-scope.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { benchServices } from './gate.bench.ts';
import { countWork, perWrite, profileIfAsked } from './work-counters.ts';

/**
 * Google Calendar sync, end to end against the sandbox in its own process (so its work does not
 * share the event loop with the workers under test):
 *
 * 1. Throughput: 10,000 events over 100 connections (100 accounts, no sandbox quotas, our own
 *    limiter set out of the way), provider writes per second of the real workers (reconcile engine +
 *    gate + transfer log + sync_state + rate limiter), against a baseline measured in the same run:
 *    bare BullMQ jobs making the same HTTP calls (same client, same chunking and concurrency) without
 *    gate, log or state. Goal: ratio ≥ 0.7.
 * 2. Quota adherence: one account limited by a sandbox quota fault to 600 requests per 60 s sliding
 *    window (the real Google window, not a scaled one), our limiter at GOOGLE_USER_RATE_PER_MINUTE=600.
 *    The busiest sliding minute (as the sandbox saw the requests arrive) uses ≥ 90% of the quota and
 *    never exceeds it, with ≤ 1% of requests refused; also reported: how long the first 500 took.
 * 3. A no-op reconcile of a connection with 1,000 unchanged events: provider calls (goal 0) and time.
 * 4. Peak RSS of the worker process (this process: API, workers, database client) during 1.
 *
 * PGlite in memory by default; BENCH_DATABASE_URL=postgres://… uses PostgreSQL.
 * BENCH_SYNC_CONNECTIONS / BENCH_SYNC_EVENTS / BENCH_QUOTA_EVENTS shrink the runs for a quick look.
 * BENCH_CPU_PROFILE / BENCH_CPU_PROFILE_BASELINE write CPU profiles of the subject and of one baseline run.
 */

const CONNECTIONS = Number(process.env.BENCH_SYNC_CONNECTIONS ?? 100);
const EVENTS_PER_CONNECTION = Number(process.env.BENCH_SYNC_EVENTS ?? 100);
const QUOTA_EVENTS = Number(process.env.BENCH_QUOTA_EVENTS ?? 720);
const NOOP_EVENTS = 1000;
const CHUNK = 50;
const ITEM_CONCURRENCY = 8;

interface SandboxProcess {
  url: string;
  child: ChildProcess;
  close(): Promise<void>;
}

/** The sandbox (every emulator) in a child process on a free port. */
export async function startSandboxProcess(): Promise<SandboxProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../sandbox/main.ts')], {
    env: { ...process.env, SANDBOX_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      const m = /listening on (http:\/\/\S+)/.exec(String(d));
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}`)));
  });
  return {
    url,
    child,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export async function sandboxCall<T>(url: string, pathname: string, init?: RequestInit): Promise<T> {
  // A kept-alive socket the sandbox closed while idle fails once: try again on a fresh one.
  const res = await fetch(`${url}${pathname}`, init).catch(() => fetch(`${url}${pathname}`, init));
  if (!res.ok) throw new Error(`sandbox ${pathname}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? null : await res.json()) as T;
}

/**
 * A counter of the sandbox ledger's entries that `counts`, for polling while a run goes on: each call asks
 * only for the entries recorded since the previous one (`after=<seq>`), so a poll costs the same however
 * long the ledger has grown. `query` filters as the ledger route does (e.g. `provider=google&writes=true`).
 */
export function ledgerCounter<E extends { seq: number }>(url: string, query: string, counts: (entry: E) => boolean): () => Promise<number> {
  let seen = 0;
  let lastSeq = 0;
  return async () => {
    const { entries } = await sandboxCall<{ entries: E[] }>(url, `/_sandbox/ledger?${query}&after=${lastSeq}`);
    for (const e of entries) if (counts(e)) seen += 1;
    lastSeq = entries.at(-1)?.seq ?? lastSeq;
    return seen;
  };
}

interface LedgerRow {
  seq: number;
  atMs: number;
  account: string | null;
  method: string;
  path: string;
  status: number;
  write: boolean;
}

export const ledger = (url: string) => sandboxCall<{ entries: LedgerRow[] }>(url, '/_sandbox/ledger?provider=google').then((r) => r.entries);

interface Env {
  services: Services;
  app: App;
  sandbox: SandboxProcess;
  organizationId: string;
  apiKey: string;
  cleanup(): Promise<void>;
}

export async function setup(sandbox: SandboxProcess, extraEnv: Record<string, string>, options: { embedded?: 'memory' | 'disk' } = {}): Promise<Env> {
  const { services, cleanup } = await benchServices({ SANDBOX_URL: sandbox.url, ...extraEnv }, options);
  const app = createApp(services);
  const org = await services.db.insertInto('organizations').values({ name: 'Bench Firm', settings: '{}' }).returning('id').executeTakeFirstOrThrow();
  const { apiKey } = await createApiKey(services.db, { organizationId: org.id, name: 'bench' });
  return { services, app, sandbox, organizationId: org.id, apiKey, cleanup };
}

/** A user with a Google account in the sandbox, connected through the real OAuth flow. */
export async function connectUser(env: Env, n: number): Promise<{ connectionId: string; email: string; account: string }> {
  const email = `lawyer${n}@bench.example`;
  const account = `lawyer${n}@gmail.example`;
  const user = await env.services.db
    .insertInto('users')
    .values({ organization_id: env.organizationId, email, name: `Lawyer ${n}`, role: 'member', picture_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sandboxCall(env.sandbox.url, '/_sandbox/accounts', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: account, name: `Lawyer ${n}`, sub: `2000000000000${String(n).padStart(8, '0')}`, emailVerified: true }),
  });
  const { id, session } = await env.services.sessions.create({ userId: user.id, organizationId: env.organizationId, role: 'member', method: 'test' });
  const headers = { cookie: `${SESSION_COOKIE}=${id}`, [CSRF_HEADER]: session.csrfToken };
  const res = await env.app.request('/v1/connections', {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: account }),
  });
  if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
  const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
  const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
  const cb = await env.app.request(back.pathname + back.search, { headers: { ...headers, accept: 'application/json' } });
  if (cb.status !== 200) throw new Error(`callback: ${cb.status} ${await cb.text()}`);
  return { connectionId: connection.id, email, account };
}

/** Ingests one case per user with `n` events each, through the bulk API (≤ 5,000 items a request). */
export async function ingest(env: Env, users: Array<{ email: string }>, n: number, titlePrefix = 'Hearing'): Promise<void> {
  const items: unknown[] = [];
  users.forEach((u, k) => {
    items.push({ op: 'upsert', type: 'case', externalId: `case-${k}`, data: { number: `PI-${k}`, title: `Case ${k}`, assignees: [u.email] } });
    for (let i = 0; i < n; i++) {
      const day = String(1 + (i % 28)).padStart(2, '0');
      items.push({
        op: 'upsert',
        type: 'event',
        externalId: `case-${k}-ev-${i}`,
        data: {
          caseExternalId: `case-${k}`,
          kind: i % 3 === 0 ? 'deadline' : 'court_date',
          title: `${titlePrefix} ${i}`,
          location: `Courtroom ${i % 9}`,
          ...(i % 3 === 0
            ? { allDay: true, startDate: `2026-11-${day}` }
            : { start: `2026-10-${day}T14:00:00Z`, end: `2026-10-${day}T15:00:00Z`, timeZone: 'Europe/Berlin' }),
        },
      });
    }
  });
  // Cases first (events refer to them), then events in requests of at most 5,000 items.
  const cases = items.filter((x) => (x as { type: string }).type === 'case');
  const events = items.filter((x) => (x as { type: string }).type === 'event');
  for (const batch of [cases, ...Array.from({ length: Math.ceil(events.length / 5000) }, (_, i) => events.slice(i * 5000, (i + 1) * 5000))]) {
    if (!batch.length) continue;
    const res = await env.app.request('/v1/ingest/bulk', {
      method: 'POST',
      headers: { authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items: batch }),
    });
    if (res.status !== 200) throw new Error(`ingest: ${res.status} ${(await res.text()).slice(0, 500)}`);
  }
}

export async function waitIdle(queue: Queue, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (Date.now() < deadline) {
    const c = await queue.getJobCounts('waiting', 'active', 'prioritized');
    const busy = (c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0);
    // The delayed jobs are read (whole, every one) only once nothing else is left: while the workers
    // run, loading a scheduled full reconcile per connection every 50 ms would be this harness's own
    // work in the process under test, which the baseline's queue (with none) does not pay.
    const delayed = busy ? 0 : (await queue.getDelayed()).filter((j) => j.name !== FULL_RECONCILE_JOB).length;
    quiet = busy + delayed === 0 ? quiet + 1 : 0;
    if (quiet >= 2) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('queue not idle');
}

/** Samples this process's RSS until stopped; returns the peak in MiB. */
function rssSampler(): { stop(): number } {
  // `memoryUsage.rss()` only: the full `memoryUsage()` also walks the heap spaces, work the subject would pay.
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.round(Math.max(peak, process.memoryUsage.rss()) / 1024 / 1024);
    },
  };
}

/** Bench 1 (+4): throughput of the real workers vs bare BullMQ jobs making the same calls. */
async function throughput(sandbox: SandboxProcess): Promise<BenchResult[]> {
  const env = await setup(sandbox, { GOOGLE_USER_RATE_PER_MINUTE: '1000000', GOOGLE_PROJECT_RATE_PER_MINUTE: '100000000' });
  try {
    const { services } = env;
    process.stderr.write(`  connecting ${CONNECTIONS} accounts through OAuth...\n`);
    const users: Array<{ connectionId: string; email: string; account: string }> = [];
    for (let n = 0; n < CONNECTIONS; n++) users.push(await connectUser(env, n));
    // The first (empty) reconciles and full listings, then stop: the measured run starts cold of queue work.
    let workers = await startWorkers(services, { maintenance: false, sync: { chunkSize: CHUNK, itemConcurrency: ITEM_CONCURRENCY } });
    await waitIdle(services.queues.sync);
    await workers.close();

    process.stderr.write(`  ingesting ${CONNECTIONS * EVENTS_PER_CONNECTION} events...\n`);
    await ingest(env, users, EVENTS_PER_CONNECTION);

    // Baseline inputs (untimed): the same event bodies, each account's own fresh calendar, its token.
    const prepareBaseline = async (round: string, only = users.length) => {
      const inputs: Array<{ token: string; calendarId: string; bodies: ReturnType<typeof toGoogleEvent>[] }> = [];
      for (const u of users.slice(0, only)) {
        const token = (await vaultFor(services).load(u.connectionId))!.accessToken;
        const api = openGoogleCalendar({ config: services.config, accessToken: token });
        const cal = await gateScope.run({ transferId: 'bench', connectionId: u.connectionId, purpose: 'bench' }, () =>
          api.insertCalendar({ summary: `Baseline ${round}` }),
        );
        const conn = await services.db.selectFrom('connections').select('settings').where('id', '=', u.connectionId).executeTakeFirstOrThrow();
        const consent = (await currentConsent(services.db, u.connectionId))!;
        const events = await loadEventsInScope(services.db, { organizationId: env.organizationId, userEmail: u.email, caseScope: consent.caseScope });
        const desired = projectEvents({
          events,
          categories: consent.categories,
          connectionId: u.connectionId,
          settings: conn.settings as GoogleCalendarSettings,
        });
        inputs.push({
          token,
          calendarId: cal.id,
          // The insert body the connector sends (nulls left out), under its own id in the baseline calendar.
          bodies: desired.map((d) => ({
            ...Object.fromEntries(Object.entries(toGoogleEvent({ fields: d.fields, desired: d, connectionId: u.connectionId })).filter(([, v]) => v !== null)),
            id: `${round}${d.remoteId}`,
          })),
        });
      }
      return inputs;
    };

    /** Bare BullMQ jobs, same worker concurrency, chunking and per-chunk concurrency; no gate, log, state or limiter. */
    const runBaseline = async (inputs: Awaited<ReturnType<typeof prepareBaseline>>) => {
      const prefix = `bull:${services.config.REDIS_PREFIX}-baseline`;
      const bq = new Queue('baseline', { connection: services.redis, prefix });
      const bconn = new Redis(services.config.REDIS_URL, { maxRetriesPerRequest: null });
      const before = (await ledger(sandbox.url)).length;
      const cpu = process.cpuUsage();
      const t = performance.now();
      const bworker = new Worker(
        'baseline',
        async (job) => {
          const b = inputs[job.data.i as number]!;
          const api = openGoogleCalendar({ config: services.config, accessToken: b.token });
          const limit = pLimit(ITEM_CONCURRENCY);
          for (let c = 0; c < b.bodies.length; c += CHUNK) {
            await Promise.all(
              b.bodies
                .slice(c, c + CHUNK)
                .map((body) => limit(() => gateScope.run({ transferId: 'b', connectionId: 'b', purpose: 'b' }, () => api.insertEvent(b.calendarId, body)))),
            );
          }
        },
        { connection: bconn, prefix, concurrency: services.config.SYNC_CONCURRENCY },
      );
      await bq.addBulk(inputs.map((_, i) => ({ name: 'calls', data: { i } })));
      await waitIdle(bq);
      const seconds = (performance.now() - t) / 1000;
      const used = process.cpuUsage(cpu);
      const writes = (await ledger(sandbox.url)).slice(before).filter((e) => e.write).length;
      await bworker.close();
      await bq.obliterate({ force: true });
      await bq.close();
      await bconn.quit();
      return { seconds, writes, cpuMsPerWrite: Math.round(((used.user + used.system) / 1000 / Math.max(1, writes)) * 1000) / 1000 };
    };

    // Warm-up (untimed): the sandbox process's JIT and heap, the HTTP agents.
    await runBaseline(await prepareBaseline('a', Math.max(1, Math.ceil(users.length / 5))));
    // Baseline before and after the subject (averaged): the machine's load drifts during a run.
    const second = await prepareBaseline('c');
    // BENCH_CPU_PROFILE_BASELINE=file: a profile of this baseline run, to hold against the subject's.
    const baselineProfiling = await profileIfAsked(process.env.BENCH_CPU_PROFILE_BASELINE);
    const b1 = await runBaseline(await prepareBaseline('b'));
    await baselineProfiling.stop();

    // Subject: the real workers reconcile the ingested events.
    const before2 = (await ledger(sandbox.url)).length;
    const rss = rssSampler();
    const counting = await countWork();
    const profiling = await profileIfAsked();
    const load = (await import('node:os')).loadavg();
    const t2 = performance.now();
    workers = await startWorkers(services, { maintenance: false, sync: { chunkSize: CHUNK, itemConcurrency: ITEM_CONCURRENCY } });
    await waitIdle(services.queues.sync);
    const subjectSeconds = (performance.now() - t2) / 1000;
    const work = counting.stop();
    await profiling.stop();
    const peakMb = rss.stop();
    await workers.close();
    const subjectEntries = (await ledger(sandbox.url)).slice(before2);
    const subjectWrites = subjectEntries.filter((e) => e.write).length;
    const expected = CONNECTIONS * EVENTS_PER_CONNECTION;
    const b2 = await runBaseline(second);
    const subjectRate = subjectWrites / subjectSeconds;
    const baselineRate = (b1.writes + b2.writes) / (b1.seconds + b2.seconds);
    return [
      {
        name: `sync throughput (${expected} events, ${CONNECTIONS} connections)`,
        unit: 'provider writes/s',
        subject: subjectRate,
        baseline: baselineRate,
        ratio: subjectRate / baselineRate,
        ratioMeaning: 'workers (engine + gate + log + state + limiter) / bare BullMQ jobs with the same calls (mean of a run before and after)',
        goal: 'ratio ≥ 0.7',
        met: subjectRate / baselineRate >= 0.7 && subjectWrites === expected,
        extra: {
          subjectWrites,
          subjectSeconds,
          baselineRuns: [b1, b2],
          database: services.dbKind,
          loadAverage: load.map((x) => Math.round(x * 100) / 100),
          // This process (workers + database client; PGlite: the database too), the sandbox excluded.
          subjectWork: perWrite(work, subjectWrites),
        },
      },
      {
        name: 'peak worker RSS during the throughput run',
        unit: 'MiB',
        subject: peakMb,
        baseline: null,
        ratio: null,
        extra: { note: 'this process: API + sync workers + database client (PGlite includes the database itself)', database: services.dbKind },
      },
    ];
  } finally {
    await env.cleanup();
  }
}

/** Bench 2: one account under a 600/60 s sliding-window quota at the sandbox. */
async function quota(sandbox: SandboxProcess): Promise<BenchResult[]> {
  const env = await setup(sandbox, { GOOGLE_USER_RATE_PER_MINUTE: '600', GOOGLE_PROJECT_RATE_PER_MINUTE: '10000' });
  try {
    const user = await connectUser(env, 900);
    const workers = await startWorkers(env.services, { maintenance: false });
    await waitIdle(env.services.queues.sync);
    await workers.close();
    // Only now the quota: the connect's own calls do not eat into the measured window.
    const fault = await sandboxCall<{ fault: { id: string } }>(sandbox.url, '/_sandbox/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'google', account: user.account, kind: 'quota', limit: 600, windowSeconds: 60, status: 429, path: '^/calendar/' }),
    });
    await ingest(env, [user], QUOTA_EVENTS, 'Quota');
    process.stderr.write(`  syncing ${QUOTA_EVENTS} events under a 600/min quota (about ${Math.ceil(QUOTA_EVENTS / 570) * 60} s)...\n`);
    const before = (await ledger(sandbox.url)).length;
    const w2 = await startWorkers(env.services, { maintenance: false });
    await waitIdle(env.services.queues.sync);
    await w2.close();
    const faults = await sandboxCall<{ faults: Array<{ id: string; hits: number }> }>(sandbox.url, '/_sandbox/faults');
    const hits = faults.faults.find((f) => f.id === fault.fault.id)!.hits;
    await sandboxCall(sandbox.url, '/_sandbox/faults', { method: 'DELETE' });
    const accepted = (await ledger(sandbox.url)).slice(before).filter((e) => e.account === user.account && e.path.startsWith('/calendar/'));
    const refused = hits - accepted.length;
    const spanMs = accepted.at(-1)!.atMs - accepted[0]!.atMs;
    // The busiest sliding minute as the sandbox saw it (arrival times): what the quota is about.
    let busiest = 0;
    for (let i = 0, j = 0; i < accepted.length; i++) {
      while (accepted[i]!.atMs - accepted[j]!.atMs >= 60_000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    // Time for the first 500 requests: an idle account gets its budget at once, not paced.
    const firstBurstMs = accepted.length >= 500 ? accepted[499]!.atMs - accepted[0]!.atMs : null;
    return [
      {
        name: `quota adherence (one account, 600 per 60 s sliding window, ${QUOTA_EVENTS} events)`,
        unit: 'requests in the busiest sliding minute',
        subject: busiest,
        baseline: 600,
        ratio: busiest / 600,
        ratioMeaning: 'busiest sliding minute / provider quota',
        goal: '≥ 0.9 of quota used, never above it, ≤ 1% refused',
        met: busiest / 600 >= 0.9 && busiest <= 600 && refused / hits <= 0.01 && accepted.filter((e) => e.write).length === QUOTA_EVENTS,
        extra: {
          accepted: accepted.length,
          refused,
          refusedShare: refused / hits,
          spanSeconds: spanMs / 1000,
          averagePerMinute: ((accepted.length - 1) / spanMs) * 60_000,
          first500RequestsSeconds: firstBurstMs === null ? null : firstBurstMs / 1000,
        },
      },
    ];
  } finally {
    await env.cleanup();
  }
}

/** Bench 3: a reconcile of 1,000 unchanged events. */
async function noop(sandbox: SandboxProcess): Promise<BenchResult[]> {
  const env = await setup(sandbox, { GOOGLE_USER_RATE_PER_MINUTE: '1000000', GOOGLE_PROJECT_RATE_PER_MINUTE: '100000000' });
  try {
    const user = await connectUser(env, 950);
    await ingest(env, [user], NOOP_EVENTS, 'Noop');
    const workers = await startWorkers(env.services, { maintenance: false });
    await waitIdle(env.services.queues.sync);
    await workers.close();
    const { services } = env;
    const connector = googleCalendar as Connector & { sync: ConnectorSync };
    const onReauthRequired = (id: string, message: string) => markReauthRequired(services, id, message).then(() => undefined);
    const deps = {
      services,
      connector,
      tokens: createTokenAccess(services, { oauth: connector.oauth!, onReauthRequired }),
      limiter: new ProviderRateLimiter({
        redis: services.redis,
        prefix: services.config.REDIS_PREFIX,
        platform: 'google_calendar',
        ...rateBudgets({
          declared: connector.manifest.rateBudgets,
          overrides: connectorConfigFor('google_calendar')?.rateBudgetVariables,
          config: services.config,
        }),
      }),
      actor: { kind: 'system' as const, reason: 'bench' },
      onReauthRequired,
    };
    const times: number[] = [];
    const before = (await ledger(sandbox.url)).length;
    for (let r = 0; r < 7; r++) {
      const t = performance.now();
      const result = await reconcileConnection(deps, { connectionId: user.connectionId, reason: 'manual' });
      times.push(performance.now() - t);
      if (result.status !== 'done' || result.progress.unchanged !== NOOP_EVENTS) throw new Error(`no-op reconcile: ${JSON.stringify(result)}`);
    }
    const calls = (await ledger(sandbox.url)).length - before;
    const median = [...times].sort((a, b) => a - b)[3]!;
    return [
      {
        name: `no-op reconcile (${NOOP_EVENTS} unchanged events)`,
        unit: 'ms (median of 7)',
        subject: median,
        baseline: null,
        ratio: null,
        goal: '0 provider calls',
        met: calls === 0,
        extra: { providerCalls: calls, runsMs: times.map((x) => Math.round(x)), database: services.dbKind },
      },
    ];
  } finally {
    await env.cleanup();
  }
}

export const syncBenchmark: Benchmark = {
  name: 'google calendar sync',
  async run(): Promise<BenchResult[]> {
    const sandbox = await startSandboxProcess();
    try {
      const which = (process.env.BENCH_SYNC_PARTS ?? 'throughput,quota,noop').split(',');
      const results: BenchResult[] = [];
      const report = (rs: BenchResult[]) => {
        for (const r of rs) process.stderr.write(`  ${r.name}: ${r.subject.toFixed(1)} ${r.unit}${r.ratio === null ? '' : ` (ratio ${r.ratio.toFixed(3)})`}\n`);
        results.push(...rs);
      };
      if (which.includes('throughput')) report(await throughput(sandbox));
      if (which.includes('quota')) report(await quota(sandbox));
      if (which.includes('noop')) report(await noop(sandbox));
      return results;
    } finally {
      await sandbox.close();
    }
  },
};
