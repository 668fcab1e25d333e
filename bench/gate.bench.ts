import { Worker } from 'node:worker_threads';
import pLimit from 'p-limit';
import { grantConsentAndPublish } from '../src/consent/service.ts';
import type { Services } from '../src/services.ts';
import type { TransferItem } from '../src/transfers/types.ts';
import { createIsolatedServices } from '../test/support/services.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { countBackendCpu } from './pg-backend-cpu.ts';
import { countWork, profileIfAsked } from './work-counters.ts';

/**
 * Outbound gate + transfer log cost per transfer, against the same local HTTP calls without the gate.
 * The "provider" is a tiny HTTP server in a worker thread (so the database work of the gate on this
 * thread cannot delay its answers) that answers every request after 1 ms (or 20 ms). Shapes:
 * - 8 concurrent callers each doing sequential `send`s — goal ≤ 1.5× the ungated baseline: the
 *   log writer group-commits the intents (and outcomes) ready at the same time into one statement;
 * - `sendMany` chunks of 50 at concurrency 8 against a provider answering after 20 ms — goal ≤ 1.05×;
 * - sequential `send` and `sendMany` at 1 ms — reported (at 1 ms on two cores the baseline's own HTTP
 *   saturates the CPU, so the ratio measures the machine more than the design).
 * Every shape keeps every guarantee: a revocation lease per call, the intent committed before the call,
 * the outcome committed before the call returns. Rounds alternate gate/baseline; medians are compared.
 * Each result also reports the CPU time the gate adds per transfer on this process (`process.cpuUsage`:
 * on PGlite that includes the database's work, on PostgreSQL only Node's), the CPU time of this
 * process's PostgreSQL backends per gated transfer when the server runs on this machine, and the SQL
 * statements and Redis commands per gated transfer. BENCH_CPU_PROFILE=file.cpuprofile profiles the shapes.
 * PGlite in memory by default; BENCH_DATABASE_URL=postgres://… uses PostgreSQL (a fresh schema).
 */

const ROUNDS = Number(process.env.BENCH_GATE_ROUNDS ?? 5);
const SEQUENTIAL = 200;
const CONCURRENT_CALLERS = 8;
const CONCURRENT_PER_CALLER = 40;
const CHUNK = 50;
const CHUNKS = 8;
/** Chunks per round of the reported 20 ms shape (each chunk takes ~7 waves of 20 ms). */
const SLOW_CHUNKS = 3;
const SLOW_PROVIDER_MS = 20;

/** One measured shape: `n` transfers per round, gated and ungated. */
interface Shape {
  n: number;
  gate: () => Promise<void>;
  base: () => Promise<void>;
  /** Provider latency of the shape (ms). */
  providerMs: number;
  /** Highest gated/ungated ratio that meets the goal; absent = reported without a goal. */
  goal?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Services on a private Redis prefix and a fresh database (PGlite, or a schema on BENCH_DATABASE_URL). */
export function benchServices(
  extra: Record<string, string> = {},
  options: { embedded?: 'memory' | 'disk' } = {},
): Promise<{ services: Services; cleanup: () => Promise<void> }> {
  return createIsolatedServices({
    ...options,
    pgUrl: process.env.BENCH_DATABASE_URL,
    tag: 'bench',
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'http://127.0.0.1:3000', ...extra },
  });
}

/** An HTTP server in a worker thread answering every request after `delayMs`. */
async function startProvider(delayMs: number): Promise<{ url: string; close: () => Promise<void> }> {
  const worker = new Worker(
    `
    const http = require('node:http');
    const { parentPort } = require('node:worker_threads');
    const server = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c) => { n += c.length; });
      req.on('end', () => setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"remote-' + n + '"}');
      }, ${delayMs}));
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
    parentPort.on('message', (m) => { if (m === 'close') server.close(() => process.exit(0)); });
    `,
    { eval: true },
  );
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  return {
    url: `http://127.0.0.1:${port}/calendar/v3/events`,
    close: async () => {
      worker.postMessage('close');
      await worker.terminate();
    },
  };
}

async function seed(services: Services): Promise<string> {
  const org = await services.db
    .insertInto('organizations')
    .values({ name: 'Bench Firm', settings: JSON.stringify({}) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const user = await services.db
    .insertInto('users')
    .values({ organization_id: org.id, email: 'lawyer@bench.example', name: 'Lawyer', role: 'member', picture_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const connection = await services.db
    .insertInto('connections')
    .values({
      organization_id: org.id,
      user_id: user.id,
      platform: 'google_calendar',
      status: 'active',
      external_account: 'lawyer@gmail.example',
      settings: JSON.stringify({}),
      last_error: JSON.stringify(null),
      sync_progress: JSON.stringify(null),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await grantConsentAndPublish(services, {
    connectionId: connection.id,
    organizationId: org.id,
    grantedBy: user.id,
    categories: ['calendar.events'],
    caseScope: { kind: 'all' },
    method: 'api',
  });
  return connection.id;
}

const item = (i: number): TransferItem => ({
  operation: 'create',
  categories: ['calendar.events', 'calendar.events.details'],
  subjects: { caseIds: [`00000000-0000-4000-8000-${String(i % 50).padStart(12, '0')}`], eventIds: [`ev-${i}`] },
  recipient: { account: null, destination: 'casebridge-calendar' },
  fields: {
    title: `Hearing ${i} — Miller v. Eastside`,
    start: '2026-03-02T09:00:00+01:00',
    end: '2026-03-02T10:30:00+01:00',
    timeZone: 'Europe/Berlin',
    location: 'Landgericht Berlin, Saal 4',
    caseNumber: `PI-2026-${i}`,
    description: 'stripped by the gate: not consented',
  },
  itemKey: `event:ev-${i}`,
});

async function call(url: string, fields: Record<string, unknown>): Promise<{ status: number; id: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) });
  const body = (await res.json()) as { id: string };
  return { status: res.status, id: body.id };
}

/** Per transfer of one run: wall-clock ms, CPU ms of this process and of its PostgreSQL backends, statements and Redis commands. */
interface Timing {
  ms: number;
  cpuMs: number;
  /** Null when PostgreSQL is not on this machine (or on PGlite: its work is in `cpuMs`). */
  dbCpuMs: number | null;
  statements: number;
  redisCommands: number;
}

async function timed(n: number, fn: () => Promise<void>): Promise<Timing> {
  const work = await countWork();
  const db = await countBackendCpu();
  const t0 = performance.now();
  await fn();
  const ms = (performance.now() - t0) / n;
  const dbCpu = db.stop();
  const counted = work.stop();
  return {
    ms,
    cpuMs: counted.cpuMs / n,
    dbCpuMs: dbCpu === null ? null : dbCpu / n,
    statements: counted.sqlStatements / n,
    redisCommands: counted.redisCommands / n,
  };
}

export const gateBenchmark: Benchmark = {
  name: 'outbound gate',
  async run(): Promise<BenchResult[]> {
    const { services, cleanup } = await benchServices();
    const provider = await startProvider(1);
    const slowProvider = await startProvider(SLOW_PROVIDER_MS);
    try {
      const connectionId = await seed(services);
      const ctx = { connectionId, purpose: 'calendar_sync', actor: { kind: 'job' as const, jobId: 'bench', queue: 'sync' } };
      // Strip the item to what the consent allows for the baseline too, so both send the same bytes.
      const minimisedFields = (i: number) => {
        const { description: _d, ...rest } = item(i).fields;
        return rest;
      };
      let k = 0;
      const gatedChunks = async (url: string, chunks: number) => {
        for (let c = 0; c < chunks; c++) {
          const items = Array.from({ length: CHUNK }, () => item(k++));
          await services.gate.sendMany(
            ctx,
            items,
            async (f) => {
              const res = await call(url, f);
              return { value: res.id, status: res.status, remoteId: res.id };
            },
            { concurrency: 8 },
          );
        }
      };
      const plainChunks = async (url: string, chunks: number) => {
        const limit = pLimit(8);
        for (let c = 0; c < chunks; c++) {
          await Promise.all(Array.from({ length: CHUNK }, () => minimisedFields(k++)).map((f) => limit(() => call(url, f))));
        }
      };
      const shapes: { sequential: Shape } & Record<string, Shape> = {
        sequential: {
          n: SEQUENTIAL,
          providerMs: 1,
          gate: async () => {
            for (let i = 0; i < SEQUENTIAL; i++) {
              const r = await services.gate.send(ctx, item(k++), async (f) => {
                const res = await call(provider.url, f);
                return { value: res.id, status: res.status, remoteId: res.id };
              });
              if (r.outcome !== 'sent') throw new Error(`bench transfer not sent: ${r.outcome}`);
            }
          },
          base: async () => {
            for (let i = 0; i < SEQUENTIAL; i++) await call(provider.url, minimisedFields(k++));
          },
        },
        '8 concurrent send callers': {
          n: CONCURRENT_CALLERS * CONCURRENT_PER_CALLER,
          providerMs: 1,
          goal: 1.5,
          gate: async () => {
            await Promise.all(
              Array.from({ length: CONCURRENT_CALLERS }, async () => {
                for (let i = 0; i < CONCURRENT_PER_CALLER; i++) {
                  await services.gate.send(ctx, item(k++), async (f) => {
                    const res = await call(provider.url, f);
                    return { value: res.id, status: res.status, remoteId: res.id };
                  });
                }
              }),
            );
          },
          base: async () => {
            await Promise.all(
              Array.from({ length: CONCURRENT_CALLERS }, async () => {
                for (let i = 0; i < CONCURRENT_PER_CALLER; i++) await call(provider.url, minimisedFields(k++));
              }),
            );
          },
        },
        sendMany: {
          n: CHUNK * CHUNKS,
          providerMs: 1,
          gate: () => gatedChunks(provider.url, CHUNKS),
          base: () => plainChunks(provider.url, CHUNKS),
        },
        [`sendMany, ${SLOW_PROVIDER_MS} ms provider`]: {
          n: CHUNK * SLOW_CHUNKS,
          gate: () => gatedChunks(slowProvider.url, SLOW_CHUNKS),
          base: () => plainChunks(slowProvider.url, SLOW_CHUNKS),
          providerMs: SLOW_PROVIDER_MS,
          goal: 1.05,
        },
      };
      // Warm-up: connections, JIT, chain head and consent cache.
      await shapes.sequential.base();
      await shapes.sequential.gate();
      const results: BenchResult[] = [];
      // BENCH_GATE_SHAPES=sequential,sendMany — run only the shapes whose name contains one of these (profiling).
      const only = process.env.BENCH_GATE_SHAPES?.split(',').filter(Boolean);
      for (const [name, shape] of Object.entries(shapes)) {
        if (only && !only.some((o) => name.includes(o))) continue;
        const g: Timing[] = [];
        const b: Timing[] = [];
        // BENCH_CPU_PROFILE=file.cpuprofile: a profile of the shape's rounds (gated and ungated).
        const profile = await profileIfAsked();
        for (let r = 0; r < ROUNDS; r++) {
          b.push(await timed(shape.n, shape.base));
          g.push(await timed(shape.n, shape.gate));
        }
        await profile.stop();
        const subject = median(g.map((x) => x.ms));
        const baseline = median(b.map((x) => x.ms));
        const ratio = subject / baseline;
        const addedCpuMs = median(g.map((x) => x.cpuMs)) - median(b.map((x) => x.cpuMs));
        const dbCpu = g.map((x) => x.dbCpuMs).filter((x): x is number => x !== null);
        const round3 = (x: number) => Math.round(x * 1000) / 1000;
        results.push({
          name: `gate+log per transfer, ${name}`,
          unit: 'ms/transfer',
          subject,
          baseline,
          ratio,
          ratioMeaning: `gated time / ungated time for the same HTTP calls (${shape.providerMs} ms provider latency)`,
          ...(shape.goal === undefined ? {} : { goal: `ratio ≤ ${shape.goal}`, met: ratio <= shape.goal }),
          extra: {
            addedMsPerTransfer: subject - baseline,
            addedCpuMsPerTransfer: addedCpuMs,
            baselineCpuMsPerTransfer: round3(median(b.map((x) => x.cpuMs))),
            // The database's side (PostgreSQL on this machine; the ungated baseline uses none).
            ...(dbCpu.length === g.length ? { databaseCpuMsPerTransfer: round3(median(dbCpu)) } : {}),
            statementsPerTransfer: round3(median(g.map((x) => x.statements))),
            redisCommandsPerTransfer: round3(median(g.map((x) => x.redisCommands))),
            cpuMeasures: services.dbKind === 'pglite' ? 'Node + PGlite (in process)' : 'Node only (PostgreSQL runs elsewhere)',
            rounds: ROUNDS,
            transfersPerRound: shape.n,
            database: services.dbKind,
          },
        });
      }
      return results;
    } finally {
      await provider.close();
      await slowProvider.close();
      await cleanup();
    }
  },
};
