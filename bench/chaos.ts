import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { googleEventId } from '../connectors/google-calendar/project.ts';
import { FULL_RECONCILE_JOB } from '../queues/definitions.ts';
import { emulators } from '../sandbox/emulators.ts';
import { calendarStore } from '../sandbox/google/calendar.ts';
import { startSandbox } from '../sandbox/server.ts';
import { createApiKey } from '../src/auth/api-keys.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import { freePort } from '../src/demo/private-redis.ts';
import { LEASE_TTL_MS } from '../src/transfers/inflight.ts';
import { recoverOpenTransfers } from '../src/transfers/resolution.ts';
import { verifyTransferLog } from '../src/transfers/verify.ts';
import { type ServiceProcess, startServiceProcess } from '../test/support/service-process.ts';
import { createIsolatedServices } from '../test/support/services.ts';
import { ledgerMismatches } from '../test/sync/support/ledger-check.ts';
import { type ChaosFeed, checkFeeds, FeedPoller, type IcalReport } from './chaos-ical.ts';

/**
 * `npm run chaos`: the sync pipeline under faults, all at once, on loopback only (issue 18). Its own
 * redis-server (AOF), a fresh schema on the local PostgreSQL, the provider sandbox, 2 API and 3
 * worker processes (`src/main.ts`). Events for N Google connections are ingested through the API
 * processes; during the run: SIGKILL of a random worker (restarted) KILLS times, one Redis restart,
 * one `pg_terminate_backend` of every backend of the service, provider faults (10% 5xx, 5% 429 with
 * Retry-After, 1% timeouts), a burst of changes, and revocations mid-sync. Then it settles and checks:
 * every desired event at the sandbox exactly once (0 missing, 0 duplicates) for live connections;
 * every provider write logged as `sent` or a resolved `unknown`, and no `sent` without a write
 * (0 unlogged, 0 phantom); 0 provider requests for a revoked connection after its 202 besides the
 * revocation's own reads resolving the transfers its receipt lists as of unknown outcome (counted apart).
 * iCal feeds too (bench/chaos-ical.ts): feeds of a share of the users (scope all cases or one case),
 * polled through both API processes during the run (plain and conditional GETs), some revoked
 * mid-run; then every live feed answers the same bytes and ETag from either process, shows exactly
 * the desired events of its scope, every 200/304 answer has its `sent`/`not_modified` row and no
 * such row lacks an answer, and no revoked feed served anything after its revocation's 202.
 * Writes RELIABILITY.md: this run's report on top, the run it replaces summed up under "Earlier runs"
 * with the entries already there ({@link withEarlierRuns}). CHAOS_SECONDS, CHAOS_CONNECTIONS, CHAOS_EVENTS, CHAOS_BURST,
 * CHAOS_REVOCATIONS, CHAOS_KILLS, CHAOS_FEEDS, CHAOS_FEED_REVOCATIONS size it; DATABASE_URL (or
 * TEST_DATABASE_URL) names the PostgreSQL.
 */

export interface ChaosOptions {
  seconds: number;
  connections: number;
  events: number;
  burst: number;
  revocations: number;
  kills: number;
  /** iCal feeds (one per user, for `feeds` of the `connections` users). */
  feeds: number;
  /** Feeds revoked mid-run (by an administrator's revocation of their connection). */
  feedRevocations: number;
  pgUrl: string;
  log?: (line: string) => void;
}

export interface ChaosReport {
  options: Omit<ChaosOptions, 'log' | 'pgUrl'>;
  providerRequests: number;
  faultsInjected: { status5xx: number; status429: number; timeouts: number };
  chaos: string[];
  desiredEvents: number;
  missing: number;
  duplicates: number;
  ledgerMismatches: string[];
  writesChecked: number;
  /** Provider writes accounted for by `unverifiable` resolutions (reading Google could not tell whose write it was). */
  unverifiableWrites: number;
  /** Provider requests for a revoked connection after its 202, other than the revocation's own resolution reads. */
  requestsAfterRevocation: number;
  /** What those requests were: method, path shape, status and how long after the 202 (first 20). */
  requestsAfterRevocationDetail: string[];
  /**
   * The revocation's own reads after its 202: one GET of the event of each transfer its receipt lists
   * as of unknown outcome, resolving it (allowed; see the README's revocation guarantee).
   */
  resolutionReadsAfterRevocation: number;
  /** `transfers verify` after the run: the hash chain of every organization's log, against its signed checkpoints. */
  verify: { ok: boolean; rowsChecked: number };
  /** The iCal feeds: answers, content and transfer-log checks. */
  ical: IcalReport;
  convergeSeconds: number;
  totalSeconds: number;
  /** 1-minute load average of the machine when the run started and ended. */
  loadAverage: { start: number; end: number };
}

/** How long a service process may take to answer /healthz: minutes, not seconds, on a loaded machine (a slow start is not a fault). */
const START_TIMEOUT_MS = 240_000;

/** Events of a second case assigned to each feed owner (outside a one-case feed's scope). */
const EXTRA_EVENTS = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--dir', dir],
    {
      stdio: 'ignore',
    },
  );
  const { Redis } = await import('ioredis');
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return child;
    } catch {
      probe.disconnect();
      await sleep(100);
    }
  }
  throw new Error('redis-server did not start');
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

function eventItems(caseId: string, assignee: string, from: number, n: number, prefix = 'Hearing'): unknown[] {
  const items: unknown[] = [
    { op: 'upsert', type: 'case', externalId: caseId, data: { number: `C-${caseId}`, title: `Case ${caseId}`, assignees: [assignee] } },
  ];
  for (let i = from; i < from + n; i++) {
    const day = String(1 + (i % 28)).padStart(2, '0');
    items.push({
      op: 'upsert',
      type: 'event',
      externalId: `${caseId}-ev-${i}`,
      data: {
        caseExternalId: caseId,
        kind: 'court_date',
        title: `${prefix} ${i}`,
        start: `2026-05-${day}T14:00:00Z`,
        end: `2026-05-${day}T15:00:00Z`,
        timeZone: 'UTC',
      },
    });
  }
  return items;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  const loadAtStart = Number(os.loadavg()[0]!.toFixed(2));
  const tag = `chaos${Math.random().toString(36).slice(2, 8)}`;
  const redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-chaos-redis-'));
  const redisPort = await freePort();
  let redis = await startRedis(redisPort, redisDir);
  const sandbox = await startSandbox(emulators, { port: 0 });
  const state = sandbox.state;
  // A provider may apply a request late; under load the sandbox (in this process) answers seconds late.
  const settleMs = 15_000;
  const { services, config, cleanup } = await createIsolatedServices({
    pgUrl: options.pgUrl,
    tag: 'chaos',
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      PUBLIC_BASE_URL: 'http://localhost:3000',
      SANDBOX_URL: sandbox.url,
      GOOGLE_USER_RATE_PER_MINUTE: '1000000',
      GOOGLE_PROJECT_RATE_PER_MINUTE: '100000000',
      TRANSFER_UNKNOWN_SETTLE_MS: String(settleMs),
      SYNC_JOB_LOCK_SECONDS: '5',
    },
  });
  const processes: ServiceProcess[] = [];
  // A service process that exits without the harness killing it is a failure of the run, reported with its output.
  const killedByHarness = new Set<ChildProcess>();
  const died: string[] = [];
  const watch = (p: ServiceProcess, role: string) => {
    processes.push(p);
    void p.exited.then((code) => {
      if (!killedByHarness.has(p.child)) died.push(`${role} process exited (code ${code}, signal ${p.child.signalCode}): ${p.output().slice(-3000)}`);
    });
  };
  const chaos: string[] = [];
  // When the last kill or terminated backend happened: calls it cut off leave intents that the
  // recovery takes as abandoned only once they are LEASE_TTL_MS old.
  let lastCutAt = 0;
  const note = (what: string) => {
    const line = `${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`;
    chaos.push(line);
    log(`chaos ${line}`);
  };
  try {
    const org = await services.db.insertInto('organizations').values({ name: 'Chaos Firm', settings: '{}' }).returning('id').executeTakeFirstOrThrow();
    const { apiKey } = await createApiKey(services.db, { organizationId: org.id, name: 'chaos' });
    const sessionFor = async (email: string, role: 'member' | 'admin') => {
      const user = await services.db
        .insertInto('users')
        .values({ organization_id: org.id, email, name: email, role, picture_url: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      const { id, session } = await services.sessions.create({ userId: user.id, organizationId: org.id, role, method: 'test' });
      return { cookie: `${SESSION_COOKIE}=${id}`, [CSRF_HEADER]: session.csrfToken };
    };
    const admin = await sessionFor('admin@chaos.example', 'admin');

    // The service processes, on a database URL that names them (for pg_terminate_backend).
    const dbUrl = new URL(options.pgUrl);
    dbUrl.searchParams.set('application_name', tag);
    const procEnv = {
      DATABASE_URL: dbUrl.toString(),
      TRANSFER_UNKNOWN_SETTLE_MS: String(settleMs),
      SHUTDOWN_GRACE_SECONDS: '3',
      LOG_LEVEL: 'error',
      // The poller fetches each feed far more often than a calendar app would.
      ICAL_RATE_LIMIT_PER_MINUTE: '100000',
    };
    const apis: ServiceProcess[] = [];
    const workers: ServiceProcess[] = [];
    for (let i = 0; i < 2; i++) apis.push(await startServiceProcess({ role: 'api', config, env: procEnv, timeoutMs: START_TIMEOUT_MS }));
    for (let i = 0; i < 3; i++) workers.push(await startServiceProcess({ role: 'worker', config, env: procEnv, timeoutMs: START_TIMEOUT_MS }));
    for (const a of apis) watch(a, 'API');
    for (const w of workers) watch(w, 'worker');
    log(`chaos: 2 API and 3 worker processes up after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // Connections: one Google account per lawyer, connected through an API process.
    const users: Array<{ email: string; account: string; connectionId: string; headers: Record<string, string> }> = [];
    for (let n = 0; n < options.connections; n++) {
      const email = `lawyer${n}@chaos.example`;
      const account = `lawyer${n}@gmail.example`;
      state.accounts.set(account, { email: account, name: `Lawyer ${n}`, sub: `3000000000000${String(n).padStart(8, '0')}`, emailVerified: true });
      const headers = await sessionFor(email, 'member');
      const api = apis[n % 2]!;
      const res = await fetch(`${api.url}/v1/connections`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: account }),
      });
      if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
      const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
      const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
      const cb = await fetch(`${api.url}${back.pathname}${back.search}`, { headers: { ...headers, accept: 'application/json' } });
      if (cb.status !== 200) throw new Error(`callback: ${cb.status} ${await cb.text()}`);
      users.push({ email, account, connectionId: connection.id, headers });
    }

    let ingestTurn = 0;
    const ingest = async (items: unknown[]) => {
      for (let i = 0; i < items.length; i += 2000) {
        const api = apis[ingestTurn++ % 2]!;
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${api.url}/v1/ingest/bulk`, {
            method: 'POST',
            headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
            body: JSON.stringify({ items: items.slice(i, i + 2000) }),
          }).catch(() => null);
          if (res?.status === 200) break;
          // During the database or Redis fault an ingest may fail: the client retries (idempotent upserts).
          if (attempt > 20) throw new Error(`ingest failed: ${res?.status} ${await res?.text()}`);
          await sleep(500);
        }
      }
    };
    const perUser = Math.ceil(options.events / options.connections);
    const all: unknown[] = [];
    for (const [n, u] of users.entries()) all.push(...eventItems(`case${n}`, u.email, 0, perUser));
    // Feed owners also have a second case (in an all-cases feed, outside a one-case feed).
    const feedStep = options.feeds ? Math.max(1, Math.floor(users.length / options.feeds)) : 0;
    const feedUsers = options.feeds
      ? users
          .map((_, n) => n)
          .filter((n) => n % feedStep === 0)
          .slice(0, options.feeds)
      : [];
    for (const n of feedUsers) all.push(...eventItems(`extra${n}`, users[n]!.email, 0, EXTRA_EVENTS, 'Meeting'));
    await ingest(all);
    log(`chaos: ${perUser * users.length + EXTRA_EVENTS * feedUsers.length} events ingested`);

    // iCal feeds, created through the API processes; the scope alternates between all cases and one case.
    const feeds: ChaosFeed[] = [];
    for (const [index, n] of feedUsers.entries()) {
      const u = users[n]!;
      let caseIds: string[] | null = null;
      if (index % 2 === 1) {
        const c = await services.db.selectFrom('cases').select('id').where('external_id', '=', `case${n}`).executeTakeFirstOrThrow();
        caseIds = [c.id];
      }
      const res = await fetch(`${apis[index % 2]!.url}/v1/ical-feeds`, {
        method: 'POST',
        headers: { ...u.headers, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: `Chaos feed ${index}`,
          categories: ['calendar.events'],
          caseScope: caseIds ? { kind: 'cases', caseIds } : { kind: 'all' },
        }),
      });
      if (res.status !== 201) throw new Error(`feed: ${res.status} ${await res.text()}`);
      const created = (await res.json()) as { feed: { id: string; connectionId: string }; url: string };
      feeds.push({ index, feedId: created.feed.id, connectionId: created.feed.connectionId, email: u.email, path: new URL(created.url).pathname, caseIds });
    }
    const poller = new FeedPoller(
      feeds,
      apis.map((a) => a.url),
    );
    if (feeds.length) log(`chaos: ${feeds.length} iCal feeds`);

    // Provider faults, in proportion to the requests that arrived since the last round.
    const faults = { status5xx: 0, status429: 0, timeouts: 0 };
    let faulting = true;
    let seenRequests = state.ledger.length;
    let carry = { s5: 0, s429: 0, t: 0 };
    const injector = (async () => {
      while (faulting) {
        await sleep(500);
        const now = state.ledger.length;
        const fresh = now - seenRequests;
        seenRequests = now;
        carry = { s5: carry.s5 + fresh * 0.1, s429: carry.s429 + fresh * 0.05, t: carry.t + fresh * 0.01 };
        const take = (k: 's5' | 's429' | 't') => {
          const n = Math.floor(carry[k]);
          carry[k] -= n;
          return n;
        };
        const s5 = take('s5');
        const s429 = take('s429');
        const t = take('t');
        if (s5) state.addFault({ provider: 'google', kind: 'status', status: 503, path: '/calendar/', times: s5 });
        if (s429) state.addFault({ provider: 'google', kind: 'status', status: 429, retryAfterSeconds: 1, path: '/calendar/', times: s429 });
        if (t) state.addFault({ provider: 'google', kind: 'timeout', delayMs: 31_000, method: 'POST', path: '/events$', times: t });
        faults.status5xx += s5;
        faults.status429 += s429;
        faults.timeouts += t;
      }
    })();

    // The chaos timeline, spread over the run.
    const chaosStart = Date.now();
    if (feeds.length) poller.start();
    const when = (fraction: number) => sleep(Math.max(0, chaosStart + fraction * options.seconds * 1000 - Date.now()));
    const revoked: Array<{ account: string; connectionId: string; answeredAt: number; revocationId: string }> = [];
    const timeline: Array<[number, () => Promise<void>]> = [];
    for (let k = 0; k < options.kills; k++) {
      timeline.push([
        (k + 1) / (options.kills + 2),
        async () => {
          const i = Math.floor(Math.random() * workers.length);
          killedByHarness.add(workers[i]!.child);
          await stopChild(workers[i]!.child, 'SIGKILL');
          lastCutAt = Date.now();
          note(`SIGKILL worker ${i + 1}`);
          workers[i] = await startServiceProcess({ role: 'worker', config, env: procEnv, timeoutMs: START_TIMEOUT_MS });
          watch(workers[i]!, 'worker');
          note(`worker ${i + 1} restarted`);
        },
      ]);
    }
    timeline.push([
      0.3,
      async () => {
        await stopChild(redis, 'SIGTERM');
        note('Redis stopped');
        await sleep(1000);
        redis = await startRedis(redisPort, redisDir);
        note('Redis restarted (AOF)');
      },
    ]);
    timeline.push([
      0.5,
      async () => {
        const client = new pg.Client({ connectionString: options.pgUrl });
        await client.connect();
        const r = await client.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [tag]);
        lastCutAt = Date.now();
        await client.end();
        note(`pg_terminate_backend: ${r.rowCount} backends of the service`);
      },
    ]);
    timeline.push([
      0.4,
      async () => {
        const burst: unknown[] = [];
        const per = Math.ceil(options.burst / users.length);
        for (const [n, u] of users.entries()) burst.push(...eventItems(`case${n}`, u.email, perUser, per, 'Burst'));
        await ingest(burst);
        note(`burst of ${per * users.length} changes`);
      },
    ]);
    timeline.push([
      0.45,
      async () => {
        for (const u of users.slice(-options.revocations)) {
          const res = await fetch(`${apis[0]!.url}/v1/admin/revocations`, {
            method: 'POST',
            headers: { ...admin, 'content-type': 'application/json' },
            body: JSON.stringify({ target: { kind: 'connection', connectionId: u.connectionId }, reason: 'chaos' }),
          });
          const answeredAt = Date.now();
          if (res.status !== 202) throw new Error(`revocation: ${res.status} ${await res.text()}`);
          const { revocation } = (await res.json()) as { revocation: { id: string } };
          revoked.push({ account: u.account, connectionId: u.connectionId, answeredAt, revocationId: revocation.id });
        }
        note(`${options.revocations} connections revoked mid-sync`);
        for (const f of feeds.slice(0, options.feedRevocations)) {
          const res = await fetch(`${apis[1]!.url}/v1/admin/revocations`, {
            method: 'POST',
            headers: { ...admin, 'content-type': 'application/json' },
            body: JSON.stringify({ target: { kind: 'connection', connectionId: f.connectionId }, reason: 'chaos' }),
          });
          const answeredAt = Date.now();
          if (res.status !== 202) throw new Error(`feed revocation: ${res.status} ${await res.text()}`);
          f.revokedAt = answeredAt;
        }
        if (options.feedRevocations) note(`${options.feedRevocations} iCal feeds revoked while polled`);
      },
    ]);
    timeline.sort((a, b) => a[0] - b[0]);
    for (const [fraction, act] of timeline) {
      await when(fraction);
      await act();
    }
    await when(1);
    faulting = false;
    await injector;
    await poller.stop();
    state.faults = [];
    note('faults stopped; settling');

    // Settle: the sync queue idle (the periodic full reconciles aside), open calls resolved.
    const settleStart = Date.now();
    const queue = services.queues.sync;
    let quiet = 0;
    while (quiet < 3) {
      if (died.length) throw new Error(`service processes died during the run:\n${died.join('\n---\n')}`);
      const counts = await queue.getJobCounts('waiting', 'active', 'prioritized');
      const delayed = (await queue.getDelayed()).filter((j) => j.name !== FULL_RECONCILE_JOB).length;
      quiet = Object.values(counts).reduce((a, b) => a + b, 0) + delayed === 0 ? quiet + 1 : 0;
      if (Date.now() - settleStart > 240_000) {
        const active = (await queue.getActive()).map(
          (j) => `${j.name} ${JSON.stringify(j.data)} since ${j.processedOn ? new Date(j.processedOn).toISOString() : '?'}`,
        );
        const tails = processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.output().slice(-2000));
        throw new Error(
          `did not settle: ${JSON.stringify(counts)} delayed ${delayed}\nactive: ${active.join('\n')}\nprocess output:\n${tails.join('\n---\n')}`,
        );
      }
      await sleep(500);
    }
    // Calls whose outcome was unknown (timeouts, killed workers) are resolved by reading the provider.
    await sleep(settleMs + 500);
    const convergeSeconds = (Date.now() - settleStart) / 1000;
    // On a slow machine the last kill can come late in the run: its intents are not abandoned (in the
    // recovery's eyes) before LEASE_TTL_MS, so wait for that before recovering (not counted as converging).
    const abandonedAt = lastCutAt + LEASE_TTL_MS + 1000;
    if (Date.now() < abandonedAt) await sleep(abandonedAt - Date.now());
    await recoverOpenTransfers(services, { settleMs });

    // Checks.
    const live = users.filter((u) => !revoked.some((r) => r.connectionId === u.connectionId));
    let desiredEvents = 0;
    let missing = 0;
    let duplicates = 0;
    for (const u of live) {
      const row = await services.db.selectFrom('connections').select('settings').where('id', '=', u.connectionId).executeTakeFirstOrThrow();
      const calendarId = (row.settings as { calendarId: string }).calendarId;
      const desired = await services.db
        .selectFrom('case_events')
        .innerJoin('cases', 'cases.id', 'case_events.case_id')
        .select('case_events.id')
        .where('cases.organization_id', '=', org.id)
        .where(sql<boolean>`cases.assignees @> ${JSON.stringify([u.email])}::jsonb`)
        .execute();
      const want = new Set(desired.map((d) => googleEventId(u.connectionId, d.id)));
      const have = calendarStore(state).liveEventsOf(calendarId);
      const byCasebridgeId = new Map<string, number>();
      for (const e of have) {
        const id = (e as { extendedProperties?: { private?: { casebridgeEventId?: string } } }).extendedProperties?.private?.casebridgeEventId ?? e.id;
        byCasebridgeId.set(id, (byCasebridgeId.get(id) ?? 0) + 1);
      }
      desiredEvents += want.size;
      missing += [...want].filter((id) => !have.some((e) => e.id === id)).length;
      duplicates += [...byCasebridgeId.values()].reduce((a, n) => a + (n - 1), 0);
    }
    const writes = state.ledger.filter((e) => e.provider === 'google' && e.write && e.status < 300);
    const check = await ledgerMismatches({ db: services.db, connectionIds: users.map((u) => u.connectionId), writes });
    let requestsAfterRevocation = 0;
    let resolutionReadsAfterRevocation = 0;
    const requestsAfterRevocationDetail: string[] = [];
    for (const r of revoked) {
      // The revocation's own reads are allowed: one GET of the event of each transfer its receipt lists
      // as of unknown outcome (`callsOutcomeUnknown`), resolving it. Anything else is a violation.
      const listed = await services.db.selectFrom('revocations').select('calls_outcome_unknown').where('id', '=', r.revocationId).executeTakeFirstOrThrow();
      const listedIds = (listed.calls_outcome_unknown ?? []).map((c) => c.transferId);
      const listedEvents = new Set(
        listedIds.length
          ? (await services.db.selectFrom('transfer_log').select('item_key').where('id', 'in', listedIds).execute())
              .map((row) => row.item_key)
              .filter((k): k is string => !!k?.startsWith('event:'))
              .map((k) => googleEventId(r.connectionId, k.slice('event:'.length)))
          : [],
      );
      const afterAll = state.ledger.filter((e) => e.account === r.account && e.path.includes('/calendar/') && e.atMs > r.answeredAt);
      const isResolutionRead = (e: (typeof afterAll)[number]) => e.method === 'GET' && listedEvents.has(e.path.split('/').at(-1) ?? '');
      resolutionReadsAfterRevocation += afterAll.filter(isResolutionRead).length;
      const after = afterAll.filter((e) => !isResolutionRead(e));
      requestsAfterRevocation += after.length;
      for (const e of after.slice(0, 20 - requestsAfterRevocationDetail.length))
        requestsAfterRevocationDetail.push(
          `${e.method} ${e.path.replace(/\/events\/[^/]+$/, '/events/{id}').replace(/calendars\/[^/]+/, 'calendars/{id}')} ${e.status} +${e.atMs - r.answeredAt} ms`,
        );
    }

    const ical = await checkFeeds(services.db, poller);
    const verified = await verifyTransferLog(services);
    const verify = { ok: verified.ok, rowsChecked: verified.rowsChecked };

    return {
      options: {
        seconds: options.seconds,
        connections: options.connections,
        events: options.events,
        burst: options.burst,
        revocations: options.revocations,
        kills: options.kills,
        feeds: options.feeds,
        feedRevocations: options.feedRevocations,
      },
      providerRequests: state.ledger.length,
      faultsInjected: faults,
      chaos,
      desiredEvents,
      missing,
      duplicates,
      ledgerMismatches: check.mismatches.map((m) => (revoked.some((r) => m.startsWith(r.connectionId)) ? `${m} [connection revoked mid-run]` : m)),
      writesChecked: check.items,
      unverifiableWrites: check.unverifiableUsed,
      requestsAfterRevocation,
      requestsAfterRevocationDetail,
      resolutionReadsAfterRevocation,
      verify,
      ical,
      convergeSeconds,
      totalSeconds: (Date.now() - started) / 1000,
      loadAverage: { start: loadAtStart, end: Number(os.loadavg()[0]!.toFixed(2)) },
    };
  } finally {
    for (const p of processes) {
      killedByHarness.add(p.child);
      await stopChild(p.child, 'SIGKILL');
    }
    await cleanup().catch(() => undefined);
    await sandbox.close();
    await stopChild(redis, 'SIGKILL');
    fs.rmSync(redisDir, { recursive: true, force: true });
  }
}

/** Whether the run lost nothing, duplicated nothing, logged everything and served nothing after a revocation. */
export function chaosPassed(r: ChaosReport): boolean {
  return (
    r.missing === 0 && r.duplicates === 0 && r.ledgerMismatches.length === 0 && r.requestsAfterRevocation === 0 && r.verify.ok && r.ical.problems.length === 0
  );
}

const list = (lines: string[], max = 20) =>
  lines
    .slice(0, max)
    .map((m) => `- ${m}`)
    .join('\n');

/** RELIABILITY.md from a report. */
export function reliabilityMarkdown(r: ChaosReport): string {
  const ok = chaosPassed(r);
  const f = r.ical;
  const answers = Object.entries(f.answers)
    .map(([s, n]) => `${n} × ${s === '0' ? 'no answer' : s}`)
    .join(', ');
  const after = Object.entries(f.afterRevocation)
    .map(([s, n]) => `${n} × ${s === '0' ? 'no answer' : s}`)
    .join(', ');
  const otherRows = Object.entries(f.rows.other)
    .map(([o, n]) => `${n} \`${o}\``)
    .join(', ');
  return `# Reliability: the chaos run

\`npm run chaos\` (bench/chaos.ts) — ${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} cores, load average ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end (1-minute).
Own redis-server (AOF), PostgreSQL schema, provider sandbox; 2 API and 3 worker processes (\`src/main.ts\`).

| parameter | value |
|---|---|
| chaos duration | ${r.options.seconds} s |
| Google connections | ${r.options.connections} (${r.options.revocations} revoked mid-sync) |
| iCal feeds | ${r.options.feeds} (${r.options.feedRevocations} revoked while polled; half show all the owner's cases, half one case) |
| events ingested | ${r.options.events} + a burst of ${r.options.burst} changes |
| worker SIGKILLs | ${r.options.kills} |
| provider faults injected | ${r.faultsInjected.status5xx} × 503, ${r.faultsInjected.status429} × 429 (Retry-After 1 s), ${r.faultsInjected.timeouts} timeouts (held past the client's timeout) |
| provider requests | ${r.providerRequests} |
| feed requests (both API processes, plain and conditional) | ${answers} |

Timeline:
${r.chaos.map((c) => `- ${c}`).join('\n')}

| result | value | goal |
|---|---|---|
| desired events at the sandbox (live connections) | ${r.desiredEvents} | |
| missing | ${r.missing} | 0 |
| duplicates | ${r.duplicates} | 0 |
| provider writes vs transfer log (items checked: ${r.writesChecked}; writes covered by an \`unverifiable\` resolution: ${r.unverifiableWrites}) | ${r.ledgerMismatches.length} mismatches | 0 unlogged, 0 phantom |
| requests for a revoked connection after its 202 (besides the revocation's own reads of the transfers its receipt lists as of unknown outcome: ${r.resolutionReadsAfterRevocation}) | ${r.requestsAfterRevocation} | 0 |
| live feeds: 200 with the same bytes and ETag from both API processes, 304 to it from both | ${f.sameBytesAndEtag} of ${f.feeds - f.revokedFeeds} | all |
| desired events in the live feeds | ${f.desiredEvents} | |
| feed events missing / duplicate UIDs / out of scope | ${f.missing} / ${f.duplicates} / ${f.outOfScope} | 0 / 0 / 0 |
| feed answers vs transfer-log rows | ${f.rows.sent} \`sent\`, ${f.rows.notModified} \`not_modified\`${otherRows ? ` (and ${otherRows})` : ''}; per feed, 200 answers = \`sent\` rows and 304 answers = \`not_modified\` rows: ${f.problems.some((p) => p.includes('rows')) ? 'NO' : 'yes'} | yes |
| revoked feeds, requests after the revocation's 202 | ${after || 'none'} | 0 × 200/304 |
| \`transfers verify\` (rows checked: ${r.verify.rowsChecked}) | ${r.verify.ok ? 'passes' : 'FAILS'} | passes |
| time to converge after the faults stopped | ${r.convergeSeconds.toFixed(1)} s | |
| whole run | ${r.totalSeconds.toFixed(1)} s | |

Verdict: ${ok ? '**no loss, no duplicate, no unlogged write, nothing served after a revocation**' : '**FAILED** — see below'}.
${r.ledgerMismatches.length ? `\nMismatches (first 20):\n${list(r.ledgerMismatches)}\n` : ''}${r.requestsAfterRevocationDetail.length ? `\nRequests after a revocation's 202 (first 20):\n${list(r.requestsAfterRevocationDetail)}\n` : ''}${f.problems.length ? `\nFeed problems (first 20):\n${list(f.problems)}\n` : ''}
${GENERATED_END}
`;
}

const EARLIER_RUNS = '## Earlier runs';
/** Ends the generated report: what follows it, up to "Earlier runs", is a maintainer's note on the run. */
const GENERATED_END = '<!-- end of the generated report; notes on this run may follow -->';

/** A cell of the result table of a generated RELIABILITY.md: the value of the row whose label starts with `label`. */
function resultCell(markdown: string, label: string): string | null {
  const row = markdown.split('\n').find((line) => line.startsWith(`| ${label}`));
  return row?.split('|')[2]?.trim() ?? null;
}

/**
 * The new RELIABILITY.md: the new run's report, then "Earlier runs" — the run it replaces, summed up
 * in one entry (its time, verdict and figures, read from its result table), above the entries the
 * file already had there (hand-written notes included). A run no longer erases the record of the
 * runs before it.
 */
export function withEarlierRuns(report: string, previous: string): string {
  const at = previous.indexOf(EARLIER_RUNS);
  const top = at >= 0 ? previous.slice(0, at) : previous;
  const earlier = at >= 0 ? previous.slice(at + EARLIER_RUNS.length).trim() : '';
  const when = /— (\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(top);
  // A maintainer's note on the replaced run: after the end marker (files written before it: after the verdict's line).
  const marker = top.indexOf(GENERATED_END);
  const verdictLine = /^Verdict: .*$/m.exec(top);
  const noteFrom = marker >= 0 ? marker + GENERATED_END.length : verdictLine ? verdictLine.index + verdictLine[0].length : top.length;
  const note = top.slice(noteFrom).trim();
  const entries: string[] = [];
  if (when) {
    const cell = (label: string) => resultCell(top, label) ?? '?';
    const verdict = /Verdict: \*\*([^*]+)\*\*/.exec(top)?.[1] ?? 'no verdict recorded';
    entries.push(
      `- ${when[1]} ${when[2]} UTC (${cell('whole run')}): ${verdict} — missing ${cell('missing')}, duplicates ${cell('duplicates')}, ` +
        `provider writes vs log ${cell('provider writes vs transfer log')}, requests after a 202 ${cell('requests for a revoked connection')}, ` +
        `\`transfers verify\` ${cell('`transfers verify`')}.` +
        (note ? `\n${note.replace(/^(?=.)/gm, '  ')}` : ''),
    );
  }
  if (earlier) entries.push(earlier);
  return entries.length ? `${report.trimEnd()}\n\n${EARLIER_RUNS}\n\n${entries.join('\n')}\n` : report;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  const pgUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const report = await runChaos({
    seconds: num('CHAOS_SECONDS', 180),
    connections: num('CHAOS_CONNECTIONS', 100),
    events: num('CHAOS_EVENTS', 10_000),
    burst: num('CHAOS_BURST', 2000),
    revocations: num('CHAOS_REVOCATIONS', 10),
    kills: num('CHAOS_KILLS', 3),
    feeds: num('CHAOS_FEEDS', 20),
    feedRevocations: num('CHAOS_FEED_REVOCATIONS', 3),
    pgUrl,
  });
  const previous = fs.existsSync('RELIABILITY.md') ? fs.readFileSync('RELIABILITY.md', 'utf8') : '';
  fs.writeFileSync('RELIABILITY.md', withEarlierRuns(reliabilityMarkdown(report), previous));
  console.log(JSON.stringify(report, null, 2));
  process.exit(chaosPassed(report) ? 0 : 1);
}
