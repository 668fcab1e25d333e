import { startWorkers } from '../queues/index.ts';
import { recoverOpenTransfers } from '../src/transfers/resolution.ts';
import { ledgerMismatches } from '../test/sync/support/ledger-check.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { connectUser, ingest, ledgerCounter, sandboxCall, setup, startSandboxProcess, waitIdle } from './sync.bench.ts';

/**
 * Faults do not stall runs (issue 14): 300 new events of one Google account with 20% of the inserts
 * faulted as they arrive — every fifth insert gets one fault: 500s, 429s with Retry-After 3 s, and two
 * inserts the sandbox holds 31 s, past the write timeout (GOOGLE_WRITE_TIMEOUT_MS, 10 s), and applies afterwards. Measured: the
 * time from the ingest until the account holds all 300 events and the sync queue is idle (goal
 * ≤ 45 s), then, after the recovery job resolved the unknown outcomes, the transfer log against the
 * sandbox's ledger: exactly one `sent` (or `unknown` resolved to `took_effect`) row per provider write.
 * The sandbox runs in its own process. BENCH_FAULT_EVENTS shrinks the run.
 */

const EVENTS = Number(process.env.BENCH_FAULT_EVENTS ?? 300);
const EVERY = 5;
const RETRY_AFTER_S = 3;

interface FaultBody {
  kind: 'status' | 'delay';
  status?: number;
  retryAfterSeconds?: number;
  delayMs?: number;
}

/** One fault per `EVERY` inserts: the two held inserts early and late, 429s spread out, 500s for the rest. */
function faultPlan(total: number): FaultBody[] {
  const n = Math.floor(total / EVERY);
  return Array.from({ length: n }, (_, i): FaultBody => {
    if (i === 1 || i === Math.floor(n * 0.6)) return { kind: 'delay', delayMs: 31_000 };
    if (i % 10 === 5) return { kind: 'status', status: 429, retryAfterSeconds: RETRY_AFTER_S };
    return { kind: 'status', status: 500 };
  });
}

export const faultsBenchmark: Benchmark = {
  name: 'sync under faults',
  async run(): Promise<BenchResult[]> {
    const sandbox = await startSandboxProcess();
    const env = await setup(sandbox, { GOOGLE_USER_RATE_PER_MINUTE: '1000000', GOOGLE_PROJECT_RATE_PER_MINUTE: '100000000' });
    const { services } = env;
    let workers: Awaited<ReturnType<typeof startWorkers>> | null = null;
    let injecting = true;
    try {
      const user = await connectUser(env, 0);
      workers = await startWorkers(services, { maintenance: false, sync: { chunkSize: 50, itemConcurrency: 8 } });
      await waitIdle(services.queues.sync);
      // Polled every 2 ms while faults are injected (each poll reads only the entries recorded since the last).
      const inserts = ledgerCounter<{ seq: number; method: string; path: string }>(
        sandbox.url,
        'provider=google&writes=true',
        (e) => e.method === 'POST' && e.path.endsWith('/events'),
      );
      const plan = faultPlan(EVENTS);
      let added = 0;
      // Faults are added as inserts arrive, each for exactly one request, so they spread over the run.
      const injector = (async () => {
        while (injecting && added < plan.length) {
          const seen = await inserts();
          while (added < plan.length && seen >= added * EVERY) {
            await sandboxCall(sandbox.url, '/_sandbox/faults', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ ...plan[added], provider: 'google', method: 'POST', path: '/events$', times: 1 }),
            });
            added += 1;
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();

      const started = performance.now();
      await ingest(env, [user], EVENTS);
      let converged: number | null = null;
      while (performance.now() - started < 180_000) {
        const held = await services.db
          .selectFrom('sync_state')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('connection_id', '=', user.connectionId)
          .executeTakeFirstOrThrow();
        if (Number(held.n) >= EVENTS) {
          await waitIdle(services.queues.sync, 180_000);
          converged = (performance.now() - started) / 1000;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      injecting = false;
      await injector;
      const faults = (await sandboxCall<{ faults: Array<{ hits: number; kind: string; status?: number }> }>(sandbox.url, '/_sandbox/faults')).faults;
      // The held inserts land 31 s after they were sent; then the recovery job resolves what is unknown.
      await new Promise((r) => setTimeout(r, Math.max(0, started + 33_000 - performance.now())));
      const recovery = await recoverOpenTransfers(services, { now: Date.now() + 60_000, settleMs: 0 });
      const writes = (await sandboxCall<{ entries: Array<{ path: string; object?: unknown }> }>(sandbox.url, '/_sandbox/ledger?provider=google&writes=true'))
        .entries;
      const check = await ledgerMismatches({ db: services.db, connectionIds: [user.connectionId], writes });
      const outcomes = await services.db
        .selectFrom('transfer_log')
        .select(['outcome', (eb) => eb.fn.countAll<number>().as('n')])
        .where('connection_id', '=', user.connectionId)
        .where('item_key', 'like', 'event:%')
        .groupBy('outcome')
        .execute();
      const hit = faults.filter((f) => f.hits > 0);
      const invariant = check.mismatches.length === 0 && check.items === EVENTS && recovery.pending.length === 0;
      return [
        {
          name: `sync under faults: ${EVENTS} changes, ${hit.length} of the inserts faulted (500, 429 Retry-After ${RETRY_AFTER_S} s, 2 held past the write timeout)`,
          unit: 's to converge',
          subject: converged ?? Number.NaN,
          baseline: null,
          ratio: null,
          goal: '≤ 45 s, and exactly one sent/resolved row per provider write',
          met: converged !== null && converged <= 45 && invariant,
          extra: {
            faultsHit: {
              500: hit.filter((f) => f.status === 500).length,
              429: hit.filter((f) => f.status === 429).length,
              heldPastTimeout: hit.filter((f) => f.kind === 'delay').length,
            },
            providerWrites: writes.filter((w) => w.path.includes('/events')).length,
            ledgerMismatches: check.mismatches.slice(0, 10),
            outcomes: Object.fromEntries(outcomes.map((o) => [o.outcome, Number(o.n)])),
          },
        },
      ];
    } finally {
      injecting = false;
      await workers?.close();
      await env.cleanup();
      await sandbox.close();
    }
  },
};
