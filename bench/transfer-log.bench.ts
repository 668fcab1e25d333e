import { randomUUID } from 'node:crypto';
import type { Services } from '../src/services.ts';
import { type ChainedEntry, chainEntries, GENESIS_HASH, rowToEntry, type TransferLogEntry } from '../src/transfers/log-entry.ts';
import { TransferLogWriter } from '../src/transfers/log-writer.ts';
import { verifyTransferLog } from '../src/transfers/verify.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { benchServices } from './gate.bench.ts';

/**
 * Transfer log throughput:
 * 1. append, rows/s: the chained writer (hashing + compare-and-swap of the chain head + insert, one
 *    statement per batch) against a raw multi-row INSERT of the same rows (hashes precomputed, no
 *    head) — goal ≥ 0.5;
 * 2. `transfers verify`, rows/s: recomputing every hash and checkpoint against a plain paged read
 *    of the same rows (what verification costs beyond reading).
 */

const ROWS = Number(process.env.BENCH_LOG_ROWS ?? 20_000);
const BATCH = 200;

function entries(organizationId: string, n: number): TransferLogEntry[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    organizationId,
    direction: 'outbound' as const,
    userId: '00000000-0000-4000-8000-000000000001',
    connectionId: '00000000-0000-4000-8000-000000000002',
    platform: 'google_calendar',
    recipientAccount: 'lawyer@gmail.example',
    recipientDestination: 'casebridge-calendar',
    subjects: { caseIds: [`00000000-0000-4000-8000-${String(i % 50).padStart(12, '0')}`], eventIds: [`ev-${i}`] },
    categories: ['calendar.events'],
    fieldNames: ['caseNumber', 'end', 'location', 'start', 'timeZone', 'title'],
    purpose: 'calendar_sync',
    consentId: '00000000-0000-4000-8000-000000000003',
    consentVersion: 1,
    payloadSha256: 'a'.repeat(64),
    payloadBytes: 212,
    actor: { kind: 'job', jobId: `job-${i >> 6}`, queue: 'sync' },
    operation: 'create',
    itemKey: `event:ev-${i}`,
    intentId: i % 2 ? randomUUID() : null,
    outcome: i % 2 ? ('sent' as const) : ('intent' as const),
    providerStatus: i % 2 ? 200 : null,
    remoteId: i % 2 ? `remote-${i}` : null,
    durationMs: i % 2 ? 2 : null,
    reason: null,
    errorClass: null,
    errorMessage: null,
    requesterIp: null,
    requesterUserAgent: null,
    createdAt: new Date(now + i),
  }));
}

function rawValues(e: ChainedEntry) {
  return {
    id: e.id,
    organization_id: e.organizationId,
    seq: e.seq,
    direction: e.direction,
    user_id: e.userId,
    connection_id: e.connectionId,
    platform: e.platform,
    recipient_account: e.recipientAccount,
    recipient_destination: e.recipientDestination,
    subjects: JSON.stringify(e.subjects),
    categories: JSON.stringify(e.categories),
    field_names: JSON.stringify(e.fieldNames),
    purpose: e.purpose,
    consent_id: e.consentId,
    consent_version: e.consentVersion,
    payload_sha256: e.payloadSha256,
    payload_bytes: e.payloadBytes,
    actor: JSON.stringify(e.actor),
    operation: e.operation,
    item_key: e.itemKey,
    intent_id: e.intentId,
    outcome: e.outcome,
    provider_status: e.providerStatus,
    remote_id: e.remoteId,
    duration_ms: e.durationMs,
    reason: e.reason,
    error_class: e.errorClass,
    error_message: e.errorMessage,
    requester_ip: e.requesterIp,
    requester_user_agent: e.requesterUserAgent,
    created_at: e.createdAt,
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

async function rowsPerSecond(n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return n / ((performance.now() - t0) / 1000);
}

async function plainRead(services: Services, organizationId: string): Promise<number> {
  let after = 0;
  let count = 0;
  for (;;) {
    const rows = await services.db
      .selectFrom('transfer_log')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(5000)
      .execute();
    for (const r of rows) rowToEntry(r);
    count += rows.length;
    if (rows.length < 5000) return count;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

export const transferLogBenchmark: Benchmark = {
  name: 'transfer log',
  async run(): Promise<BenchResult[]> {
    const { services, cleanup } = await benchServices();
    try {
      const chainedOrg = randomUUID();
      const rawOrg = randomUUID();
      const writer = new TransferLogWriter(services.db);
      const toAppend = entries(chainedOrg, ROWS);
      // The raw baseline inserts the very same rows (other ids/org), chain fields precomputed.
      const raw = chainEntries({ seq: 0, hash: GENESIS_HASH }, entries(rawOrg, ROWS)).map(rawValues);
      // Warm-up on a third organization.
      await writer.append(entries(randomUUID(), BATCH));
      await services.db
        .insertInto('transfer_log')
        .values(chainEntries({ seq: 0, hash: GENESIS_HASH }, entries(randomUUID(), BATCH)).map(rawValues))
        .execute();

      const baseline = await rowsPerSecond(ROWS, async () => {
        for (let i = 0; i < raw.length; i += BATCH)
          await services.db
            .insertInto('transfer_log')
            .values(raw.slice(i, i + BATCH))
            .execute();
      });
      const subject = await rowsPerSecond(ROWS, async () => {
        for (let i = 0; i < toAppend.length; i += BATCH) await writer.append(toAppend.slice(i, i + BATCH));
      });
      const appendResult: BenchResult = {
        name: `transfer log append (batches of ${BATCH})`,
        unit: 'rows/s',
        subject,
        baseline,
        ratio: subject / baseline,
        ratioMeaning: 'chained append rows/s ÷ raw multi-row INSERT rows/s of the same rows',
        goal: '≥ 0.5',
        met: subject / baseline >= 0.5,
        extra: { rows: ROWS, database: services.dbKind },
      };

      const readRate = await rowsPerSecond(ROWS, async () => {
        await plainRead(services, chainedOrg);
      });
      let verified = 0;
      const verifyRate = await rowsPerSecond(ROWS, async () => {
        const report = await verifyTransferLog(services, { organizationId: chainedOrg });
        if (!report.ok) throw new Error('bench chain does not verify');
        verified = report.rowsChecked;
      });
      const verifyResult: BenchResult = {
        name: 'transfers verify',
        unit: 'rows/s',
        subject: verifyRate,
        baseline: readRate,
        ratio: verifyRate / readRate,
        ratioMeaning: 'verify rows/s ÷ plain paged read rows/s of the same rows',
        extra: { rows: verified, database: services.dbKind },
      };
      return [appendResult, verifyResult];
    } finally {
      await cleanup();
    }
  },
};
