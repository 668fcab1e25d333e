import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import pLimit from 'p-limit';
import { googleCalendar } from '../connectors/google-calendar/index.ts';
import { startWorkers, type Workers } from '../queues/index.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import { consumeAuthorization, startAuthorization } from '../src/connections/oauth.ts';
import { vaultFor } from '../src/connections/token-refresh.ts';
import { grantConsent } from '../src/consent/service.ts';
import { inflightCount } from '../src/transfers/inflight.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { connectUser, ingest, ledger, sandboxCall, setup, startSandboxProcess, waitIdle } from './sync.bench.ts';

/**
 * Revocation (issue 7), against the sandbox in its own process, real BullMQ workers (sync + revoke)
 * and the API served over HTTP on a local port (latencies are client-side, on kept-alive sockets):
 *
 * 1. 100 revocations of different Google Calendar connections (connected through the real OAuth
 *    flow), each with a reconcile of 300 events in flight at the moment of the POST, 4 at a time.
 *    For each: the case is ingested, the reconcile starts, and once the provider has acknowledged
 *    writes of it (`sync_state` rows exist) while a chunk of calls is running (the connection holds
 *    an in-flight gate lease), the admin POSTs `/v1/admin/revocations` for that connection.
 *    Recorded: the 202's latency and, from the sandbox ledger afterwards, the account's writes
 *    stamped before the POST was sent (≥ 1) and in all (fewer than the reconcile's events: the
 *    revocation really cut a running reconcile short — checked, not assumed), those during the
 *    request (of which after its `effectiveAt`: calls already at the provider that the revocation
 *    drained before answering), and those after the 202 was received (goal 0). Reference (baseline)
 *    for the latency: a trivial authenticated admin GET (`/v1/admin/platforms`, same session) made
 *    just before each POST, under the same load.
 * 2. An organization with 1,000 Google Calendar connections: 8 connected through OAuth with a
 *    400-event reconcile running, the rest created directly (consent through the consent service,
 *    a real grant minted at the sandbox through the product's PKCE flow, tokens sealed in the vault).
 *    POST target organization: time to the 202, and time until GET /v1/admin/revocations/:id shows the
 *    sealed receipt (polled every 25 ms), which must list every connection with its jobs cancelled,
 *    its grant revoked at Google (the ledger shows one successful revoke per account) and its
 *    tokens shredded. Writes of the syncing accounts after the 202: goal 0.
 *
 * PGlite in memory by default; BENCH_DATABASE_URL=postgres://… uses PostgreSQL. Knobs for a quick look:
 * BENCH_REVOKE_CONNECTIONS (100), BENCH_REVOKE_EVENTS (300), BENCH_REVOKE_CONCURRENCY (4),
 * BENCH_REVOKE_ORG_CONNECTIONS (1000), BENCH_REVOKE_ORG_SYNCING (8), BENCH_REVOKE_PARTS
 * (connections,organization).
 */

const REVOCATIONS = Number(process.env.BENCH_REVOKE_CONNECTIONS ?? 100);
const EVENTS = Number(process.env.BENCH_REVOKE_EVENTS ?? 300);
const LANES = Number(process.env.BENCH_REVOKE_CONCURRENCY ?? 4);
const ORG_CONNECTIONS = Number(process.env.BENCH_REVOKE_ORG_CONNECTIONS ?? 1000);
const ORG_SYNCING = Math.min(ORG_CONNECTIONS, Number(process.env.BENCH_REVOKE_ORG_SYNCING ?? 8));
const ORG_EVENTS = 400;
const RATES = { GOOGLE_USER_RATE_PER_MINUTE: '1000000', GOOGLE_PROJECT_RATE_PER_MINUTE: '100000000' };

type Sandbox = Awaited<ReturnType<typeof startSandboxProcess>>;
type Env = Awaited<ReturnType<typeof setup>>;
type LedgerRow = Awaited<ReturnType<typeof ledger>>[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Nearest-rank percentile. */
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)]!;
};
const round = (x: number) => Math.round(x * 10) / 10;

interface Harness {
  env: Env;
  workers: Workers;
  /** The API over HTTP, as an organization admin (session cookie + CSRF header). */
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; ms: number; receivedAt: number; body: unknown }>;
  close(): Promise<void>;
}

/** Services, workers, an admin session and the app listening on a free local port. */
async function harness(sandbox: Sandbox): Promise<Harness> {
  const env = await setup(sandbox, RATES);
  const { services } = env;
  const adminUser = await services.db
    .insertInto('users')
    .values({ organization_id: env.organizationId, email: 'admin@bench.example', name: 'Bench Admin', role: 'admin', picture_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const { id, session } = await services.sessions.create({ userId: adminUser.id, organizationId: env.organizationId, role: 'admin', method: 'test' });
  const headers = { cookie: `${SESSION_COOKIE}=${id}`, [CSRF_HEADER]: session.csrfToken };
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: env.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const workers = await startWorkers(services, { maintenance: false });
  return {
    env,
    workers,
    async admin(path, init = {}) {
      const t = performance.now();
      const res = await fetch(`${base}${path}`, {
        method: init.method ?? 'GET',
        headers: { ...headers, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      // The status line and headers are in: the server has answered.
      const ms = performance.now() - t;
      const receivedAt = Date.now();
      return { status: res.status, ms, receivedAt, body: await res.json() };
    },
    async close() {
      await workers.close();
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise((r) => server.close(r));
      // BullMQ's keys live under bull:<prefix>, outside what the services' cleanup deletes.
      let cursor = '0';
      do {
        const [next, keys] = await services.redis.scan(cursor, 'MATCH', `bull:${services.config.REDIS_PREFIX}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await services.redis.del(...keys);
      } while (cursor !== '0');
      await env.cleanup();
    },
  };
}

/**
 * Resolves once every connection's reconcile is in flight: the provider acknowledged writes of it
 * (it has `sync_state` rows for events, written after a chunk's calls succeeded, so the sandbox
 * ledger has them) and a chunk of calls is running now (it holds an in-flight gate lease).
 * Polled every 2 ms.
 */
async function untilInFlight(env: Env, connectionIds: string[], timeoutMs = 60_000): Promise<void> {
  const { db, redis, config } = env.services;
  const written = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const unknown = connectionIds.filter((id) => !written.has(id));
    if (unknown.length) {
      const rows = await db
        .selectFrom('sync_state')
        .select('connection_id')
        .distinct()
        .where('connection_id', 'in', unknown)
        .where('item_key', 'like', 'event:%')
        .execute();
      for (const r of rows) written.add(r.connection_id);
    }
    if (written.size === connectionIds.length) {
      const leases = await Promise.all(connectionIds.map((id) => inflightCount(redis, config.REDIS_PREFIX, id)));
      if (leases.every((n) => n > 0)) return;
    }
    if (Date.now() > deadline)
      throw new Error(`reconcile not in flight after ${timeoutMs} ms (${written.size}/${connectionIds.length} with acknowledged writes)`);
    await sleep(2);
  }
}

async function untilSealed(h: Harness, revocationId: string, pollMs: number, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await h.admin(`/v1/admin/revocations/${revocationId}`);
    if (r.status !== 200) throw new Error(`GET revocation: ${r.status} ${JSON.stringify(r.body)}`);
    const view = (r.body as { revocation: RevocationView }).revocation;
    if (view.status !== 'in_progress') return { view, receivedAt: r.receivedAt };
    if (Date.now() > deadline) throw new Error(`revocation ${revocationId} not complete after ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

interface RevocationView {
  status: string;
  requestedAt: string;
  effectiveAt: string;
  completedAt: string | null;
  receipt: {
    payload: {
      status: string;
      connections: Array<{ connectionId: string; steps: Array<{ step: string; result: string }> }>;
      counts: { connections: number; jobsCancelled: number };
    };
  } | null;
}

/**
 * Writes of one account in the ledger, split around a revocation request: before it was sent, during
 * it (of which after the revocation's `effectiveAt`), after its answer arrived. Same machine, same clock.
 */
function splitWrites(entries: LedgerRow[], account: string, t: { sentAt: number; effectiveAt: number; receivedAt: number }) {
  const mine = entries.filter((e) => e.account === account && e.write);
  const events = mine.filter((e) => e.path.includes('/events'));
  const during = events.filter((e) => e.atMs > t.sentAt && e.atMs <= t.receivedAt);
  return {
    eventWritesBefore: events.filter((e) => e.atMs <= t.sentAt).length,
    eventWritesDuring: during.length,
    eventWritesAfterEffective: during.filter((e) => e.atMs > t.effectiveAt).length,
    writesAfter: mine.filter((e) => e.atMs > t.receivedAt),
  };
}

const effectiveAtOf = (body: unknown) => Date.parse((body as { revocation: { effectiveAt: string } }).revocation.effectiveAt);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

const POST_REVOKE = (target: Record<string, unknown>) => ({ method: 'POST', body: { target, reason: 'benchmark: employee left' } });

/** Part 1: one revocation per connection, each while that connection's reconcile is running. */
async function connections(sandbox: Sandbox): Promise<BenchResult[]> {
  const h = await harness(sandbox);
  try {
    const { env } = h;
    process.stderr.write(`  connecting ${REVOCATIONS} accounts through OAuth...\n`);
    const connect = pLimit(4);
    const users = await Promise.all(Array.from({ length: REVOCATIONS }, (_, n) => connect(() => connectUser(env, n))));
    await waitIdle(env.services.queues.sync); // the first (empty) reconciles: calendars created
    // Warm-up (untimed): sockets, JIT, the admin routes.
    for (let i = 0; i < 5; i++) await h.admin('/v1/admin/platforms');

    process.stderr.write(`  ${REVOCATIONS} revocations, ${LANES} at a time, each during a ${EVENTS}-event reconcile...\n`);
    const lanes = pLimit(LANES);
    const runs = await Promise.all(
      users.map((u, k) =>
        lanes(async () => {
          // ingest() numbers cases by array index: a sparse array gives this user its own case-k.
          const only = new Array<{ email: string }>(k + 1);
          only[k] = u;
          await ingest(env, only, EVENTS, 'Hearing');
          await untilInFlight(env, [u.connectionId]);
          const reference = await h.admin('/v1/admin/platforms');
          if (reference.status !== 200) throw new Error(`admin GET: ${reference.status}`);
          const sentAt = Date.now();
          const r = await h.admin('/v1/admin/revocations', POST_REVOKE({ kind: 'connection', connectionId: u.connectionId }));
          if (r.status !== 202) throw new Error(`revoke: ${r.status} ${JSON.stringify(r.body)}`);
          const revocationId = (r.body as { revocation: { id: string } }).revocation.id;
          return { ...u, revocationId, ms: r.ms, referenceMs: reference.ms, sentAt, effectiveAt: effectiveAtOf(r.body), receivedAt: r.receivedAt };
        }),
      ),
    );

    // Every clean-up done, every (stopped) reconcile gone, a grace period for stragglers; then the ledger.
    const sealing = pLimit(8);
    const views = await Promise.all(runs.map((r) => sealing(() => untilSealed(h, r.revocationId, 50))));
    await waitIdle(env.services.queues.sync);
    await sleep(1000);
    const entries = await ledger(sandbox.url);
    const split = runs.map((r) => splitWrites(entries, r.account, r));
    const writesAfter = split.flatMap((s) => s.writesAfter);
    const midReconcile = split.filter((s) => s.eventWritesBefore >= 1 && s.eventWritesBefore + s.eventWritesDuring < EVENTS).length;
    const completed = views.filter((v) => v.view.status === 'completed').length;

    const lat = runs.map((r) => r.ms);
    const ref = runs.map((r) => r.referenceMs);
    const common = { revocations: REVOCATIONS, concurrency: LANES, eventsPerReconcile: EVENTS, database: env.services.dbKind };
    const before = split.map((s) => s.eventWritesBefore);
    return [
      {
        name: `revocation 202 latency p50 (${REVOCATIONS} connections, sync in flight)`,
        unit: 'ms',
        subject: percentile(lat, 0.5),
        baseline: percentile(ref, 0.5),
        ratio: percentile(lat, 0.5) / percentile(ref, 0.5),
        ratioMeaning: 'POST /v1/admin/revocations (one connection) / GET /v1/admin/platforms (same session, just before), p50',
        extra: {
          ...common,
          meanMs: round(sum(lat) / lat.length),
          p90Ms: round(percentile(lat, 0.9)),
          maxMs: round(Math.max(...lat)),
          referenceP50Ms: round(percentile(ref, 0.5)),
        },
      },
      {
        name: `revocation 202 latency p99 (${REVOCATIONS} connections, sync in flight)`,
        unit: 'ms',
        subject: percentile(lat, 0.99),
        baseline: percentile(ref, 0.99),
        ratio: percentile(lat, 0.99) / percentile(ref, 0.99),
        ratioMeaning: 'POST /v1/admin/revocations (one connection) / GET /v1/admin/platforms (same session, just before), p99',
        extra: { ...common, referenceP99Ms: round(percentile(ref, 0.99)) },
      },
      {
        name: `sandbox writes after the 202 (${REVOCATIONS} revocations mid-reconcile)`,
        unit: 'writes',
        subject: writesAfter.length,
        baseline: null,
        ratio: null,
        goal: '0 (every revocation verified mid-reconcile, every receipt sealed)',
        met: writesAfter.length === 0 && midReconcile === REVOCATIONS && completed === REVOCATIONS,
        extra: {
          ...common,
          verifiedMidReconcile: midReconcile,
          eventWritesBeforePost: { min: Math.min(...before), median: percentile(before, 0.5), max: Math.max(...before) },
          eventWritesDuringRequest: sum(split.map((s) => s.eventWritesDuring)),
          eventWritesDrainedAfterEffectiveAt: {
            total: sum(split.map((s) => s.eventWritesAfterEffective)),
            max: Math.max(...split.map((s) => s.eventWritesAfterEffective)),
          },
          receiptsCompleted: completed,
          firstWritesAfter: writesAfter.slice(0, 5),
        },
      },
    ];
  } finally {
    await h.close();
  }
}

/** Part 2: the whole organization, 1,000 connections, a few of them syncing. */
async function organization(sandbox: Sandbox, singleP50: number | null): Promise<BenchResult[]> {
  const h = await harness(sandbox);
  try {
    const { env } = h;
    const { services } = env;
    process.stderr.write(`  organization: ${ORG_SYNCING} connections through OAuth, ${ORG_CONNECTIONS - ORG_SYNCING} seeded directly...\n`);
    const syncing: Array<{ connectionId: string; email: string; account: string }> = [];
    for (let i = 0; i < ORG_SYNCING; i++) syncing.push(await connectUser(env, 100_000 + i));
    await waitIdle(services.queues.sync);

    // The rest: users, active connections, a consent each, a real grant at the sandbox in the vault.
    const direct = Array.from({ length: ORG_CONNECTIONS - ORG_SYNCING }, (_, i) => ({
      email: `staff${i}@bench.example`,
      account: `staff${i}@gmail.example`,
      i,
    }));
    const seeded: Array<{ connectionId: string; userId: string; account: string; i: number }> = [];
    for (let s = 0; s < direct.length; s += 500) {
      const slice = direct.slice(s, s + 500);
      const userRows = await services.db
        .insertInto('users')
        .values(slice.map((d) => ({ organization_id: env.organizationId, email: d.email, name: `Staff ${d.i}`, role: 'member' as const, picture_url: null })))
        .returning('id')
        .execute();
      const connRows = await services.db
        .insertInto('connections')
        .values(
          slice.map((d, j) => ({
            organization_id: env.organizationId,
            user_id: userRows[j]!.id,
            platform: 'google_calendar',
            status: 'active' as const,
            external_account: d.account,
            settings: '{}',
            last_error: 'null',
            sync_progress: 'null',
          })),
        )
        .returning('id')
        .execute();
      for (const [j, d] of slice.entries()) seeded.push({ connectionId: connRows[j]!.id, userId: userRows[j]!.id, account: d.account, i: d.i });
    }
    const oauth = googleCalendar.oauth!;
    const grant = pLimit(8);
    await Promise.all(
      seeded.map((c) =>
        grant(async () => {
          await grantConsent(services.db, {
            connectionId: c.connectionId,
            organizationId: env.organizationId,
            grantedBy: c.userId,
            categories: ['calendar.events'],
            caseScope: { kind: 'all' },
            method: 'consent_screen',
          });
          await sandboxCall(sandbox.url, '/_sandbox/accounts', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: c.account, name: `Staff ${c.i}`, sub: `3000000000000${String(c.i).padStart(8, '0')}`, emailVerified: true }),
          });
          const { authorizationUrl } = await startAuthorization(services, {
            oauth,
            settings: {},
            connectionId: c.connectionId,
            organizationId: env.organizationId,
            userId: c.userId,
            platform: 'google_calendar',
            sessionId: 'bench-seed',
            purpose: 'connect',
            loginHint: c.account,
          });
          const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
          const pending = await consumeAuthorization(services, { state: back.searchParams.get('state')!, sessionId: 'bench-seed' });
          if (!pending.ok) throw new Error(pending.message);
          const tokens = await oauth.exchangeCode(services.config, {
            code: back.searchParams.get('code')!,
            codeVerifier: pending.pending.codeVerifier,
            redirectUri: pending.pending.redirectUri,
          });
          await vaultFor(services).save(c.connectionId, {
            accessToken: tokens.accessToken,
            refreshToken: tokens.refreshToken,
            expiresAt: tokens.expiresAt,
            obtainedAt: Date.now(),
            scope: tokens.scope,
          });
        }),
      ),
    );
    const allIds = [...syncing.map((s) => s.connectionId), ...seeded.map((s) => s.connectionId)];
    const accounts = new Set([...syncing.map((s) => s.account), ...seeded.map((s) => s.account)]);

    if (syncing.length) {
      await ingest(env, syncing, ORG_EVENTS, 'Hearing');
      await untilInFlight(
        env,
        syncing.map((s) => s.connectionId),
      );
    }
    process.stderr.write(`  revoking the organization (${ORG_CONNECTIONS} connections)...\n`);
    const sentAt = Date.now();
    const t0 = performance.now();
    const r = await h.admin('/v1/admin/revocations', POST_REVOKE({ kind: 'organization' }));
    if (r.status !== 202) throw new Error(`revoke organization: ${r.status} ${JSON.stringify(r.body)}`);
    const accepted = (r.body as { revocation: { id: string; connectionsRevoked: number } }).revocation;
    const { view } = await untilSealed(h, accepted.id, 25);
    const toReceiptMs = performance.now() - t0;

    await waitIdle(services.queues.sync);
    await sleep(1000);
    const entries = await ledger(sandbox.url);
    const split = syncing.map((s) => splitWrites(entries, s.account, { sentAt, effectiveAt: effectiveAtOf(r.body), receivedAt: r.receivedAt }));
    const writesAfter = split.flatMap((s) => s.writesAfter);
    const midReconcile = split.filter((s) => s.eventWritesBefore >= 1 && s.eventWritesBefore + s.eventWritesDuring < ORG_EVENTS).length;
    const providerRevokes = entries.filter((e) => e.path === '/google/revoke' && e.status === 200 && e.account !== null && accounts.has(e.account)).length;
    const tokensLeft = await services.db
      .selectFrom('connection_tokens')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('connection_id', 'in', allIds)
      .executeTakeFirstOrThrow();

    const listed = view.receipt?.payload.connections ?? [];
    const listedIds = new Set(listed.map((c) => c.connectionId));
    const stepDone = (c: (typeof listed)[number], step: string) => c.steps.some((s) => s.step === step && s.result === 'done');
    const allDone = listed.filter((c) => stepDone(c, 'cancel_jobs') && stepDone(c, 'provider_revoke') && stepDone(c, 'shred_tokens')).length;
    const complete =
      view.status === 'completed' &&
      view.receipt?.payload.status === 'completed' &&
      listed.length === ORG_CONNECTIONS &&
      allIds.every((id) => listedIds.has(id)) &&
      allDone === ORG_CONNECTIONS &&
      providerRevokes === ORG_CONNECTIONS &&
      Number(tokensLeft.n) === 0;
    const serverMs = view.completedAt ? Date.parse(view.completedAt) - Date.parse(view.requestedAt) : null;
    const common = { connections: ORG_CONNECTIONS, syncing: ORG_SYNCING, database: services.dbKind };
    return [
      {
        name: `organization revocation (${ORG_CONNECTIONS} connections): time to 202`,
        unit: 'ms',
        subject: r.ms,
        baseline: singleP50,
        ratio: singleP50 === null ? null : r.ms / singleP50,
        ratioMeaning: "organization's 202 / one connection's 202 (p50 of part 1)",
        goal: '0 sandbox writes after the 202 (syncing connections)',
        met: writesAfter.length === 0 && accepted.connectionsRevoked === ORG_CONNECTIONS,
        extra: {
          ...common,
          connectionsRevoked: accepted.connectionsRevoked,
          syncingVerifiedMidReconcile: midReconcile,
          eventWritesDuringRequest: sum(split.map((s) => s.eventWritesDuring)),
          eventWritesDrainedAfterEffectiveAt: sum(split.map((s) => s.eventWritesAfterEffective)),
          writesAfter202: writesAfter.length,
          firstWritesAfter: writesAfter.slice(0, 5),
        },
      },
      {
        name: `organization revocation (${ORG_CONNECTIONS} connections): time to complete receipt`,
        unit: 'ms',
        subject: toReceiptMs,
        baseline: null,
        ratio: null,
        goal: 'signed receipt lists every connection: jobs cancelled, grant revoked at Google, tokens shredded',
        met: complete,
        extra: {
          ...common,
          serverRequestedToCompletedMs: serverMs,
          connectionsPerSecond: round(ORG_CONNECTIONS / (toReceiptMs / 1000)),
          receiptStatus: view.receipt?.payload.status ?? null,
          receiptConnections: listed.length,
          connectionsWithEveryStepDone: allDone,
          jobsCancelled: view.receipt?.payload.counts.jobsCancelled ?? null,
          providerRevokesAtSandbox: providerRevokes,
          tokensLeft: Number(tokensLeft.n),
        },
      },
    ];
  } finally {
    await h.close();
  }
}

export const revocationBenchmark: Benchmark = {
  name: 'revocation',
  async run(): Promise<BenchResult[]> {
    const sandbox = await startSandboxProcess();
    try {
      const which = (process.env.BENCH_REVOKE_PARTS ?? 'connections,organization').split(',');
      const results: BenchResult[] = [];
      const report = (rs: BenchResult[]) => {
        for (const r of rs)
          process.stderr.write(
            `  ${r.name}: ${r.subject.toFixed(1)} ${r.unit}${r.ratio === null ? '' : ` (ratio ${r.ratio.toFixed(3)})`}${r.met === undefined ? '' : r.met ? ' met' : ' NOT met'}\n`,
          );
        results.push(...rs);
      };
      if (which.includes('connections')) report(await connections(sandbox));
      const single = results.find((r) => r.name.startsWith('revocation 202 latency p50'));
      if (which.includes('organization')) report(await organization(sandbox, single?.subject ?? null));
      return results;
    } finally {
      await sandbox.close();
    }
  },
};
