import fs from 'node:fs';
import { createApiKey } from '../src/auth/api-keys.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import { type ServiceProcess, startServiceProcess } from '../test/support/service-process.ts';
import { createIsolatedServices } from '../test/support/services.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { ledgerCounter, sandboxCall, startSandboxProcess, waitIdle } from './sync.bench.ts';

type SandboxProcess = Awaited<ReturnType<typeof startSandboxProcess>>;

/**
 * Sync throughput with 1, 2 and 3 worker processes (`src/main.ts worker`, separate OS processes) on
 * one Redis and one PostgreSQL, the sandbox (no quotas) in its own process: CONNECTIONS Google
 * connections, EVENTS new events each per batch, ingested at once; a batch is timed from the ingest
 * until every insert reached the sandbox and the queue is idle. Reported: provider writes/s per worker
 * count (median of ROUNDS rounds, the order of the counts alternating between rounds: 1-2-3, 3-2-1, …,
 * so a load that drifts during the run does not favour one count) and the ratio k processes / 1
 * process, with the CPU the processes used per provider write (from /proc/<pid>/stat, Linux only),
 * which survives a loaded machine better than wall-clock time. Every round starts fresh processes and
 * a fresh sandbox (a shared one kept every earlier round's requests in the ledger the benchmark polls,
 * which made each later round's polling dearer).
 *
 * Method (changed 2026-12-06): throughput after every process is warm. A round ingests a small untimed
 * batch (WARMUP events per connection), then full batches: the first is timed and reported as
 * `afterShortWarmup` (what this benchmark measured before: that batch alone), then untimed batches
 * until the processes together have run WARMUP_BATCHES full batches per process, then the measured
 * batch. Why: V8 compiles a process's hot code during its first few thousand writes, on helper threads
 * and in slower tiers on the main thread, and each process does so separately. Measured with one
 * process, the first full batch after the short warm-up cost 1.3–1.6 ms of worker CPU per write, the
 * third and later 0.7–1.0 ms (its helper threads alone from 0.5–0.6 to 0.15–0.4). More processes
 * share each batch, so each needs more batches in all to be warm (BullMQ hands a batch's jobs to
 * whichever processes ask first, sometimes all to one).
 *
 * Per measured batch also reported: the worker processes' CPU outside their main threads (V8's
 * compiler and GC helper threads) and their socket read and write calls per provider write
 * (/proc/<pid>/io syscr + syscw: each Redis or PostgreSQL round trip is at least one of each, each
 * sandbox request one of each), which shows how well a process batches its round trips; and, from
 * the workers' /metrics, what the processes cost each other: transfer-log append statements and lost
 * chain-head swaps per write (the chain is per organization, and every connection here is in one) and
 * sync jobs that found their connection's run lock held.
 *
 * Three variants, reported separately:
 * - `no latency`: the sandbox answers at once, so this is a pure CPU contest between the workers, the
 *   sandbox, PostgreSQL and Redis (with one worker process they keep the two cores 70–80% busy, per
 *   `machineBusy`);
 *   the goal is no loss (issue 18: 3 processes ≥ 1 process, a ratio ≥ 1).
 * - `no latency, many connections`: the same with LATENCY_CONNECTIONS × LATENCY_EVENTS (24 × 40: as many
 *   runs at once as three processes' SYNC_CONCURRENCY, where the 6 connections above give each of three
 *   processes two). BENCH_SCALE_WIDE=0 skips it.
 * - `provider latency`: every event insert waits BENCH_SCALE_LATENCY_MS at the sandbox (default
 *   150 ms: an assumed round trip of a real provider, not a measured one), and LATENCY_CONNECTIONS
 *   connections (default 24, more than one process's SYNC_CONCURRENCY of 8) each get LATENCY_EVENTS
 *   events: what more processes can overlap. BENCH_SCALE_LATENCY_MS=0 skips it.
 *
 * Needs PostgreSQL (TEST_DATABASE_URL or the local server). BENCH_SCALE_EVENTS, BENCH_SCALE_CONNECTIONS,
 * BENCH_SCALE_ROUNDS (default 3), BENCH_SCALE_WARMUP_BATCHES (default 2; 0 measures the first full
 * batch, the old method), BENCH_SCALE_LATENCY_EVENTS, BENCH_SCALE_LATENCY_CONNECTIONS size it;
 * BENCH_SCALE_COUNTS (default `1,2,3`) picks the worker counts, BENCH_SCALE_CPU_PROFILE_DIR profiles
 * the worker processes (see below).
 */

const CONNECTIONS = Number(process.env.BENCH_SCALE_CONNECTIONS ?? 6);
const EVENTS = Number(process.env.BENCH_SCALE_EVENTS ?? 150);
const ROUNDS = Math.max(1, Number(process.env.BENCH_SCALE_ROUNDS ?? 3));
const LATENCY_MS = Number(process.env.BENCH_SCALE_LATENCY_MS ?? 150);
const LATENCY_CONNECTIONS = Number(process.env.BENCH_SCALE_LATENCY_CONNECTIONS ?? 24);
const LATENCY_EVENTS = Number(process.env.BENCH_SCALE_LATENCY_EVENTS ?? 40);
/** BENCH_SCALE_WIDE=0 skips the no-latency variant with LATENCY_CONNECTIONS × LATENCY_EVENTS. */
const WIDE = process.env.BENCH_SCALE_WIDE !== '0';
/** Untimed first events per connection (every process compiles its first paths on them). */
const WARMUP = 30;
/** Full batches per worker process, the first timed one included, before the measured batch (0: measure the first). */
const WARMUP_BATCHES = Math.max(0, Number(process.env.BENCH_SCALE_WARMUP_BATCHES ?? 2));
/** Worker counts to run (BENCH_SCALE_COUNTS, e.g. `1,3` while iterating); 1 is always among them (the baseline). */
const COUNTS = [...new Set([1, ...(process.env.BENCH_SCALE_COUNTS ?? '1,2,3').split(',').map(Number)])].filter((n) => n >= 1).sort((a, b) => a - b);
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/**
 * BENCH_SCALE_CPU_PROFILE_DIR: every worker process writes a V8 CPU profile there when it exits
 * (`--cpu-prof`), and `windows.jsonl` there gets one line per measured batch (worker pids, start and
 * end on the monotonic clock the profiles' timestamps use): `bench/profile-window.ts` reads them.
 */
const PROFILE_DIR = process.env.BENCH_SCALE_CPU_PROFILE_DIR;

interface Variant {
  label: string;
  connections: number;
  events: number;
  warmup: number;
  /** Added latency of every event insert at the sandbox (0 = none). */
  latencyMs: number;
}

interface BatchResult {
  writesPerSecond: number;
  writes: number;
  seconds: number;
  /** CPU ms per provider write of the worker processes together, of the API process, of the sandbox (null off Linux). */
  cpu: { workers: number; api: number; sandbox: number } | null;
  /** Context switches (voluntary + involuntary) of the worker processes per provider write. */
  switchesPerWrite: number | null;
  /** CPU ms per provider write of the worker processes outside their main threads (V8 compiler and GC helpers). */
  helperThreadsMsPerWrite: number | null;
  /** Socket (and file) read + write calls of the worker processes per provider write. */
  ioCallsPerWrite: number | null;
  /**
   * How busy the whole machine was during the batch (every core, every process: 1 = no core ever idle),
   * from /proc/stat; null off Linux. With one worker process near 1, more processes cannot add throughput.
   */
  machineBusy: number | null;
  /** From the workers' /metrics: transfer-log append statements and lost chain-head swaps per write, run-lock refusals in all. */
  contention: { appendStatementsPerWrite: number; appendConflictsPerWrite: number; runLockBusy: number } | null;
}

interface RoundResult extends BatchResult {
  /** The first full batch after the short warm-up alone: the method before 2026-12-06. */
  afterShortWarmup: BatchResult;
}

interface ProcessWork {
  cpuMs: number;
  /** CPU ms of the main thread alone. */
  mainMs: number;
  switches: number;
  /** read + write calls (syscr + syscw). */
  ioCalls: number;
}

/** CPU ms (user + system) of a /proc stat file: utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux). */
function statCpuMs(file: string): number {
  const stat = fs.readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Busy and total clock ticks of every core together so far (/proc/stat), or null off Linux. */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const fields = /^cpu\s+(.*)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]!.trim().split(/\s+/).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal (guest time is inside user)
    return { busy: total - fields[3]! - fields[4]!, total }; // less idle and iowait
  } catch {
    return null;
  }
}

/** CPU, context switches and I/O calls of a process so far, from /proc (null where there is none). */
function processWork(pid: number | undefined): ProcessWork | null {
  if (!pid) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const count = (name: string) => Number(new RegExp(`\\n${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
    const ioCount = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(io)?.[1] ?? 0);
    return {
      cpuMs: statCpuMs(`/proc/${pid}/stat`),
      mainMs: statCpuMs(`/proc/${pid}/task/${pid}/stat`),
      switches: count('voluntary_ctxt_switches') + count('nonvoluntary_ctxt_switches'),
      ioCalls: ioCount('syscr') + ioCount('syscw'),
    };
  } catch {
    return null;
  }
}

/** Token the worker processes serve /metrics with (any 32 characters). */
const METRICS_TOKEN = 'worker-scaling-bench-metrics-token';
const CONTENTION_COUNTERS = [
  'casebridge_transfer_log_append_statements_total',
  'casebridge_transfer_log_append_conflicts_total',
  'casebridge_sync_run_lock_busy_total',
] as const;

/** The contention counters of the worker processes together (null when one does not answer). */
async function contentionCounters(urls: string[]): Promise<number[] | null> {
  const totals = CONTENTION_COUNTERS.map(() => 0);
  for (const url of urls) {
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).catch(() => null);
    if (!res?.ok) return null;
    const text = await res.text();
    CONTENTION_COUNTERS.forEach((name, i) => {
      totals[i]! += Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    });
  }
  return totals;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** One round on a fresh sandbox process (closed afterwards). */
async function round(variant: Variant, workerCount: number): Promise<RoundResult> {
  const sandbox = await startSandboxProcess();
  try {
    return await roundOn(sandbox, variant, workerCount);
  } finally {
    await sandbox.close();
  }
}

async function roundOn(sandbox: SandboxProcess, variant: Variant, workerCount: number): Promise<RoundResult> {
  const { connections: CONNECTIONS, events: EVENTS, warmup: WARMUP } = variant;
  const sandboxUrl = sandbox.url;
  if (variant.latencyMs > 0) {
    await sandboxCall(sandboxUrl, '/_sandbox/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'google', method: 'POST', path: '/events$', kind: 'delay', delayMs: variant.latencyMs }),
    });
  }

  const { services, config, cleanup } = await createIsolatedServices({
    pgUrl: PG_URL,
    tag: 'scale',
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      PUBLIC_BASE_URL: 'http://localhost:3000',
      SANDBOX_URL: sandboxUrl,
      GOOGLE_USER_RATE_PER_MINUTE: '1000000',
      GOOGLE_PROJECT_RATE_PER_MINUTE: '100000000',
    },
  });
  const workers: ServiceProcess[] = [];
  try {
    const org = await services.db.insertInto('organizations').values({ name: 'Scale Firm', settings: '{}' }).returning('id').executeTakeFirstOrThrow();
    const { apiKey } = await createApiKey(services.db, { organizationId: org.id, name: 'scale' });
    const nodeArgs = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, '--cpu-prof-interval=500'] : [];
    for (let i = 0; i < workerCount; i++)
      workers.push(await startServiceProcess({ role: 'worker', config, env: { LOG_LEVEL: 'error', METRICS_TOKEN }, nodeArgs }));
    const api = await startServiceProcess({ role: 'api', config, env: { LOG_LEVEL: 'error' } });
    workers.push(api);
    const tag = `${workerCount}w${Date.now().toString(36)}`;
    const users: string[] = [];
    for (let n = 0; n < CONNECTIONS; n++) {
      const email = `lawyer${n}@scale.example`;
      const account = `scale${tag}-${n}@gmail.example`;
      const user = await services.db
        .insertInto('users')
        .values({ organization_id: org.id, email, name: email, role: 'member', picture_url: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await sandboxCall(sandboxUrl, '/_sandbox/accounts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: account,
          name: email,
          sub: `4${String(workerCount)}${String(Date.now()).slice(-8)}${String(n).padStart(4, '0')}`,
          emailVerified: true,
        }),
      });
      const { id, session } = await services.sessions.create({ userId: user.id, organizationId: org.id, role: 'member', method: 'test' });
      const headers = { cookie: `${SESSION_COOKIE}=${id}`, [CSRF_HEADER]: session.csrfToken };
      const res = await fetch(`${api.url}/v1/connections`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: account }),
      });
      if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
      const { authorizationUrl } = (await res.json()) as { authorizationUrl: string };
      const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
      const cb = await fetch(`${api.url}${back.pathname}${back.search}`, { headers: { ...headers, accept: 'application/json' } });
      if (cb.status !== 200) throw new Error(`callback: ${cb.status}`);
      users.push(email);
    }
    await waitIdle(services.queues.sync);
    // Event inserts of this round's accounts at the sandbox so far. Polled every 100 ms while a batch
    // runs, so each poll asks only for what was recorded since the last one: reading the whole ledger
    // every time cost the sandbox and this process more CPU the more batches had run (three processes
    // run more warm-up batches), on the same two cores as what is measured.
    const inserts = ledgerCounter<{ seq: number; method: string; path: string; account: string | null }>(
      sandboxUrl,
      'provider=google&writes=true',
      (e) => e.method === 'POST' && e.path.endsWith('/events') && !!e.account?.includes(tag),
    );
    const batch = (from: number, n: number): unknown[] => {
      const items: unknown[] = [];
      for (const [c, email] of users.entries()) {
        items.push({ op: 'upsert', type: 'case', externalId: `c${c}`, data: { number: `S-${c}`, title: `Case ${c}`, assignees: [email] } });
        for (let i = from; i < from + n; i++) {
          const day = String(1 + (i % 28)).padStart(2, '0');
          items.push({
            op: 'upsert',
            type: 'event',
            externalId: `c${c}-${i}`,
            data: {
              caseExternalId: `c${c}`,
              kind: 'court_date',
              title: `Hearing ${i}`,
              start: `2026-06-${day}T09:00:00Z`,
              end: `2026-06-${day}T10:00:00Z`,
              timeZone: 'UTC',
            },
          });
        }
      }
      return items;
    };
    const send = async (items: unknown[]) => {
      const res = await fetch(`${api.url}/v1/ingest/bulk`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items }),
      });
      if (res.status !== 200) throw new Error(`ingest: ${res.status}`);
    };
    const workerPids = workers.slice(0, workerCount).map((w) => w.child.pid);
    const workerUrls = workers.slice(0, workerCount).map((w) => w.url);
    const apiPid = workers[workerCount]?.child.pid;
    const work = () => ({ workers: workerPids.map(processWork), api: processWork(apiPid), sandbox: processWork(sandbox.child.pid) });
    let next = 0;
    /** Ingests `events` new events per connection and waits until they are all written and the queue is idle. */
    const runBatch = async (events: number): Promise<BatchResult> => {
      const before = await inserts();
      const countersBefore = await contentionCounters(workerUrls);
      const atStart = work();
      const ticksAtStart = machineTicks();
      const started = Date.now();
      await send(batch(next, events));
      next += events;
      const want = CONNECTIONS * events;
      while ((await inserts()) - before < want) await new Promise((r) => setTimeout(r, 100));
      await waitIdle(services.queues.sync);
      const seconds = (Date.now() - started) / 1000;
      const atEnd = work();
      const ticksAtEnd = machineTicks();
      const countersAfter = await contentionCounters(workerUrls);
      const counted = countersBefore && countersAfter ? countersAfter.map((v, i) => v - countersBefore[i]!) : null;
      const used = (a: ProcessWork | null, b: ProcessWork | null): ProcessWork | null =>
        a && b ? { cpuMs: b.cpuMs - a.cpuMs, mainMs: b.mainMs - a.mainMs, switches: b.switches - a.switches, ioCalls: b.ioCalls - a.ioCalls } : null;
      const perWorker = atEnd.workers.map((w, i) => used(atStart.workers[i] ?? null, w));
      const apiUsed = used(atStart.api, atEnd.api);
      const sandboxUsed = used(atStart.sandbox, atEnd.sandbox);
      const measured = perWorker.every((w) => w !== null) && apiUsed && sandboxUsed;
      const workersTotal = (f: (w: ProcessWork) => number) => perWorker.reduce((a, w) => a + f(w!), 0) / want;
      return {
        writesPerSecond: want / seconds,
        writes: want,
        seconds,
        cpu: measured ? { workers: workersTotal((w) => w.cpuMs), api: apiUsed.cpuMs / want, sandbox: sandboxUsed.cpuMs / want } : null,
        switchesPerWrite: measured ? workersTotal((w) => w.switches) : null,
        helperThreadsMsPerWrite: measured ? workersTotal((w) => w.cpuMs - w.mainMs) : null,
        ioCallsPerWrite: measured ? workersTotal((w) => w.ioCalls) : null,
        machineBusy:
          ticksAtStart && ticksAtEnd && ticksAtEnd.total > ticksAtStart.total
            ? (ticksAtEnd.busy - ticksAtStart.busy) / (ticksAtEnd.total - ticksAtStart.total)
            : null,
        contention: counted ? { appendStatementsPerWrite: counted[0]! / want, appendConflictsPerWrite: counted[1]! / want, runLockBusy: counted[2]! } : null,
      };
    };
    // Warm-up (untimed): every process compiles its first paths on a small batch.
    await runBatch(WARMUP);
    // The first full batch: timed (the method before 2026-12-06), then more until every process is warm.
    const afterShortWarmup = await runBatch(EVENTS);
    if (WARMUP_BATCHES === 0) return { ...afterShortWarmup, afterShortWarmup };
    for (let b = 1; b < WARMUP_BATCHES * workerCount; b++) await runBatch(EVENTS);
    const from = process.hrtime.bigint() / 1000n;
    const measured = await runBatch(EVENTS);
    if (PROFILE_DIR) {
      const line = {
        variant: variant.label,
        workerCount,
        pids: workerPids,
        startUs: Number(from),
        endUs: Number(process.hrtime.bigint() / 1000n),
        writes: measured.writes,
      };
      fs.appendFileSync(`${PROFILE_DIR}/windows.jsonl`, `${JSON.stringify(line)}\n`);
    }
    return { ...measured, afterShortWarmup };
  } finally {
    for (const w of workers) {
      w.child.kill('SIGTERM');
      await Promise.race([w.exited, new Promise((r) => setTimeout(r, 8000))]);
      if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
    await cleanup();
  }
}

interface CountSummary {
  rounds: RoundResult[];
  writesPerSecond: number;
  /** Median CPU ms per provider write of the workers, API and sandbox together. */
  cpuPerWrite: number | null;
  /** Median CPU ms per provider write of the worker processes alone. */
  workerCpuPerWrite: number | null;
  /** The same two medians for the first full batch after the short warm-up (the method before 2026-12-06). */
  afterShortWarmup: { writesPerSecond: number; workerCpuPerWrite: number | null };
}

const medianOf = (xs: Array<number | null>): number | null => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length ? median(known) : null;
};

/** ROUNDS rounds of 1, 2 and 3 processes (order alternating); medians per count. */
async function measure(variant: Variant): Promise<Map<number, CountSummary>> {
  const rounds = new Map<number, RoundResult[]>(COUNTS.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of r % 2 ? [...COUNTS].reverse() : COUNTS) {
      process.stderr.write(`  ${variant.label}: round ${r + 1}/${ROUNDS}, ${n} worker process(es)...\n`);
      rounds.get(n)!.push(await round(variant, n));
    }
  }
  return new Map(
    [...rounds].map(([n, rs]) => [
      n,
      {
        rounds: rs,
        writesPerSecond: median(rs.map((x) => x.writesPerSecond)),
        cpuPerWrite: medianOf(rs.map((x) => (x.cpu ? x.cpu.workers + x.cpu.api + x.cpu.sandbox : null))),
        workerCpuPerWrite: medianOf(rs.map((x) => x.cpu?.workers ?? null)),
        afterShortWarmup: {
          writesPerSecond: median(rs.map((x) => x.afterShortWarmup.writesPerSecond)),
          workerCpuPerWrite: medianOf(rs.map((x) => x.afterShortWarmup.cpu?.workers ?? null)),
        },
      },
    ]),
  );
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const round2OrNull = (x: number | null) => (x === null ? null : round2(x));

/** One batch's figures for the JSON output. */
function batchFigures(x: BatchResult) {
  return {
    writesPerSecond: Math.round(x.writesPerSecond),
    seconds: x.seconds,
    // CPU ms per provider write: worker processes together / API / sandbox.
    cpuMsPerWrite: x.cpu ? { workers: round2(x.cpu.workers), api: round2(x.cpu.api), sandbox: round2(x.cpu.sandbox) } : null,
    workerHelperThreadsMsPerWrite: round2OrNull(x.helperThreadsMsPerWrite),
    workerIoCallsPerWrite: round2OrNull(x.ioCallsPerWrite),
    workerSwitchesPerWrite: round2OrNull(x.switchesPerWrite),
    machineBusy: round2OrNull(x.machineBusy),
    transferLogAppendsPerWrite: x.contention ? Math.round(x.contention.appendStatementsPerWrite * 1000) / 1000 : null,
    transferLogLostSwapsPerWrite: x.contention ? Math.round(x.contention.appendConflictsPerWrite * 1000) / 1000 : null,
    runLockBusy: x.contention?.runLockBusy ?? null,
  };
}

function results(variant: Variant, measured: Map<number, CountSummary>, goal: string, threshold: number): BenchResult[] {
  const one = measured.get(1)!;
  return COUNTS.filter((n) => n > 1).map((n) => {
    const r = measured.get(n)!;
    const ratio = r.writesPerSecond / one.writesPerSecond;
    return {
      name: `sync throughput (${variant.label}), ${n} worker processes vs 1`,
      unit: 'provider writes/s',
      subject: r.writesPerSecond,
      baseline: one.writesPerSecond,
      ratio,
      ratioMeaning: `${n} processes / 1 process, every process warm (medians of ${ROUNDS} rounds)`,
      goal,
      met: ratio >= threshold,
      extra: {
        connections: variant.connections,
        eventsPerConnection: variant.events,
        latencyMs: variant.latencyMs,
        warmupBatchesPerProcess: WARMUP_BATCHES,
        medianWorkerCpuMsPerWrite: { [`${n}p`]: round2OrNull(r.workerCpuPerWrite), '1p': round2OrNull(one.workerCpuPerWrite) },
        medianCpuMsPerWrite: { [`${n}p`]: round2OrNull(r.cpuPerWrite), '1p': round2OrNull(one.cpuPerWrite) },
        // The same rounds' first full batch after the short warm-up: the figure this benchmark reported before 2026-12-06.
        afterShortWarmup: {
          ratio: round2(r.afterShortWarmup.writesPerSecond / one.afterShortWarmup.writesPerSecond),
          writesPerSecond: { [`${n}p`]: Math.round(r.afterShortWarmup.writesPerSecond), '1p': Math.round(one.afterShortWarmup.writesPerSecond) },
          medianWorkerCpuMsPerWrite: {
            [`${n}p`]: round2OrNull(r.afterShortWarmup.workerCpuPerWrite),
            '1p': round2OrNull(one.afterShortWarmup.workerCpuPerWrite),
          },
        },
        rounds: Object.fromEntries(
          [1, n].map((k) => [`${k}p`, measured.get(k)!.rounds.map((x) => ({ ...batchFigures(x), afterShortWarmup: batchFigures(x.afterShortWarmup) }))]),
        ),
      },
    };
  });
}

export const workerScalingBenchmark: Benchmark = {
  name: 'worker scaling',
  async run(): Promise<BenchResult[]> {
    const plain: Variant = { label: 'no latency', connections: CONNECTIONS, events: EVENTS, warmup: WARMUP, latencyMs: 0 };
    const out = results(plain, await measure(plain), '≥ 1 on two cores (no loss)', 1);
    if (WIDE) {
      // The same contest with the connections of the latency variant: enough runs at once to fill every
      // process's SYNC_CONCURRENCY with three processes (with 6, each of three processes has two runs to
      // batch its statements and Redis calls over, where one process has all six).
      const wide: Variant = { label: 'no latency, many connections', connections: LATENCY_CONNECTIONS, events: LATENCY_EVENTS, warmup: 10, latencyMs: 0 };
      out.push(...results(wide, await measure(wide), '≥ 1 on two cores (no loss)', 1));
    }
    if (LATENCY_MS > 0) {
      const slow: Variant = {
        label: `${LATENCY_MS} ms provider latency`,
        connections: LATENCY_CONNECTIONS,
        events: LATENCY_EVENTS,
        warmup: 10,
        latencyMs: LATENCY_MS,
      };
      out.push(...results(slow, await measure(slow), '≥ 1 (more processes overlap more provider calls)', 1));
    }
    return out;
  },
};

if (process.argv[1]?.endsWith('worker-scaling.bench.ts')) {
  const results = await workerScalingBenchmark.run();
  console.log(JSON.stringify(results, null, 2));
  process.exit(0);
}
