import { describe, expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos.ts';
import { WORKER_PG_URL, workerDatabaseReachable } from './support/worker-processes.ts';

/**
 * The chaos run of `npm run chaos` (bench/chaos.ts), shortened to fit the test suite (under three
 * minutes on two cores, most of it starting the five processes; the timeout leaves room for a slow machine): 2 API and 3 worker processes, two
 * worker SIGKILLs, a Redis restart, every PostgreSQL backend of the service terminated, provider
 * faults (10% 503, 5% 429, 1% timeouts), a burst of changes and a revocation mid-sync. Nothing is
 * lost, nothing duplicated, every provider write is logged and nothing reaches the provider for the
 * revoked connection after its 202; `transfers verify` passes afterwards.
 */

const pgReachable = await workerDatabaseReachable();

describe.skipIf(!pgReachable)('chaos run (short)', () => {
  it('loses nothing, duplicates nothing, logs every write, sends nothing after a revocation', async () => {
    const report = await runChaos({
      seconds: 35,
      connections: 4,
      events: 400,
      burst: 100,
      revocations: 1,
      kills: 2,
      pgUrl: WORKER_PG_URL,
      log: () => undefined,
    });
    console.log(
      `chaos: ${report.providerRequests} provider requests, faults ${JSON.stringify(report.faultsInjected)}, converged in ${report.convergeSeconds.toFixed(1)} s, whole run ${report.totalSeconds.toFixed(1)} s`,
    );
    expect(report.chaos.filter((c) => c.includes('SIGKILL'))).toHaveLength(2);
    expect(report.chaos.some((c) => c.includes('Redis restarted'))).toBe(true);
    expect(report.chaos.some((c) => /pg_terminate_backend: [1-9]/.test(c))).toBe(true);
    expect(report.faultsInjected.status5xx).toBeGreaterThan(0);
    expect(report.desiredEvents).toBe(375); // 3 live connections × (100 + 25 burst)
    expect(report.missing).toBe(0);
    expect(report.duplicates).toBe(0);
    expect(report.ledgerMismatches).toEqual([]);
    expect(report.writesChecked).toBeGreaterThanOrEqual(375);
    expect(report.requestsAfterRevocation).toBe(0);
    expect(report.verify.ok, 'transfers verify after the run').toBe(true);
    expect(report.verify.rowsChecked).toBeGreaterThan(0);
  }, 300_000);
});
