import { describe, expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos.ts';
import { WORKER_PG_URL, workerDatabaseReachable } from './support/worker-processes.ts';

/**
 * The chaos run of `npm run chaos` (bench/chaos.ts), the same run at a smaller size: about three
 * minutes on two cores (two minutes of chaos, the rest starting the seven processes and settling;
 * the timeout leaves room for a slow machine). 2 API and 3 worker processes, three worker SIGKILLs,
 * a Redis restart, every PostgreSQL backend of the service terminated, provider faults (10% 503,
 * 5% 429, 1% timeouts), a burst of changes, revocations mid-sync, and iCal feeds polled through both
 * API processes (plain and conditional GETs), one of them revoked while polled. Every check of the
 * full run: nothing lost or duplicated at the provider, every provider write logged, nothing sent for
 * a revoked connection after its 202, the feeds the same bytes and ETag from either process with
 * exactly the events of their scope, one transfer-log row per answered fetch and none without one,
 * nothing served by the revoked feed after its 202, and `transfers verify` passes. Assertions are on
 * outcomes only: a slow machine makes the run longer, not different.
 */

const pgReachable = await workerDatabaseReachable();

describe.skipIf(!pgReachable)('chaos run (three-minute version)', () => {
  it('loses nothing, duplicates nothing, logs every write and fetch, serves and sends nothing after a revocation', async () => {
    const report = await runChaos({
      seconds: 110,
      connections: 8,
      events: 1200,
      burst: 240,
      revocations: 2,
      kills: 3,
      feeds: 4,
      feedRevocations: 1,
      pgUrl: WORKER_PG_URL,
      log: () => undefined,
    });
    const f = report.ical;
    console.log(
      `chaos: ${report.providerRequests} provider requests, faults ${JSON.stringify(report.faultsInjected)}, feed answers ${JSON.stringify(f.answers)}, revocation's own resolution reads after its 202 ${report.resolutionReadsAfterRevocation}, converged in ${report.convergeSeconds.toFixed(1)} s, whole run ${report.totalSeconds.toFixed(1)} s, load ${JSON.stringify(report.loadAverage)}`,
    );
    expect(report.chaos.filter((c) => c.includes('SIGKILL'))).toHaveLength(3);
    expect(report.chaos.some((c) => c.includes('Redis restarted'))).toBe(true);
    expect(report.chaos.some((c) => /pg_terminate_backend: [1-9]/.test(c))).toBe(true);
    expect(report.faultsInjected.status5xx).toBeGreaterThan(0);
    // 6 live connections × (150 + 30 burst), and 5 events of a second case for each of the 3 live
    // feed owners among them (users 0, 2, 4; users 6 and 7 were revoked).
    expect(report.desiredEvents).toBe(1095);
    expect(report.missing).toBe(0);
    expect(report.duplicates).toBe(0);
    expect(report.ledgerMismatches).toEqual([]);
    expect(report.writesChecked).toBeGreaterThanOrEqual(1095);
    expect(report.requestsAfterRevocationDetail, 'requests for a revoked connection after its 202').toEqual([]);

    // iCal feeds: feed 0 (revoked) and feeds 1–3 of users 2, 4, 6: one case (180 events), all cases
    // (185), one case (180).
    expect(f.problems).toEqual([]);
    expect(f.feeds).toBe(4);
    expect(f.revokedFeeds).toBe(1);
    expect(f.sameBytesAndEtag).toBe(3);
    expect(f.desiredEvents).toBe(545);
    expect([f.missing, f.duplicates, f.outOfScope]).toEqual([0, 0, 0]);
    expect(f.answers['200']).toBeGreaterThan(0);
    expect(f.answers['304']).toBeGreaterThan(0);
    expect(f.rows.sent).toBe(f.answers['200']);
    expect(f.rows.notModified).toBe(f.answers['304']);
    expect(f.servedAfterRevocation).toBe(0);
    expect(f.afterRevocation['404']).toBeGreaterThanOrEqual(2);

    expect(report.verify.ok, 'transfers verify after the run').toBe(true);
    expect(report.verify.rowsChecked).toBeGreaterThan(0);
  }, 480_000);
});
