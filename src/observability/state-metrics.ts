import { sql } from 'kysely';
import { Gauge } from 'prom-client';
import type { Db } from '../db/database.ts';
import type { Logger } from './logger.ts';
import { metricsRegistry } from './metrics.ts';

/**
 * Gauges of shared state, read when Prometheus scrapes: queue depth and oldest waiting job per queue
 * (Redis), transfers of unknown outcome still open and the age of the transfer-log checkpoints
 * (database). Every process that serves /metrics reports the same values (the state is shared): the
 * dashboard takes `max` across instances. Reads are cached for {@link CACHE_MS} so a busy scraper (or
 * several) costs one round of queries, and a read that fails leaves the gauge empty for that scrape.
 */

/** The queue operations the collector needs (a BullMQ `Queue`). */
export interface QueueProbe {
  readonly name: string;
  getJobCounts(...types: Array<'waiting' | 'active' | 'delayed' | 'prioritized' | 'failed'>): Promise<Record<string, number>>;
  getJobs(types: Array<'wait' | 'prioritized'>, start?: number, end?: number, asc?: boolean): Promise<Array<{ timestamp: number } | undefined>>;
}

export interface StateMetricSources {
  db: Db;
  queues: QueueProbe[];
  logger: Logger;
}

const CACHE_MS = 5_000;
/** A read taking longer is abandoned for this scrape (Prometheus' default scrape timeout is 10 s). */
const READ_TIMEOUT_MS = 3_000;
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/** The sources of this process (the services created last; tests create several in one process). */
let sources: StateMetricSources | null = null;

/** Registers where the gauges read from; returns the function that unregisters them (services.close). */
export function registerStateMetrics(s: StateMetricSources): () => void {
  sources = s;
  cache.clear();
  return () => {
    if (sources === s) sources = null;
    cache.clear();
  };
}

const cache = new Map<string, { at: number; value: Promise<unknown> }>();

/** Forgets the cached reads: the next scrape reads fresh values (tests). */
export function clearStateMetricsCache(): void {
  cache.clear();
}

/** One read per {@link CACHE_MS} per kind, shared by the gauges that use it. */
function cached<T>(key: string, read: (s: StateMetricSources) => Promise<T>): Promise<T | null> {
  const s = sources;
  if (!s) return Promise.resolve(null);
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.value as Promise<T | null>;
  // A source that does not answer (Redis or the database down) must not hold the scrape: it gives up.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
  });
  const value = Promise.race([read(s), timeout])
    .finally(() => clearTimeout(timer))
    .catch((err: unknown) => {
      s.logger.debug({ err, metric: key }, 'metric source not readable');
      return null;
    });
  cache.set(key, { at: Date.now(), value });
  return value;
}

interface QueueState {
  counts: Record<string, Record<string, number>>;
  oldest: Record<string, number>;
}

async function readQueues(s: StateMetricSources): Promise<QueueState> {
  const now = Date.now();
  const out: QueueState = { counts: {}, oldest: {} };
  await Promise.all(
    s.queues.map(async (q) => {
      // The oldest job waiting to run: both ends of the wait list (its order is an implementation
      // detail) and the head of the prioritized set.
      const [counts, waitAsc, waitDesc, prioritized] = await Promise.all([
        q.getJobCounts(...QUEUE_STATES),
        q.getJobs(['wait'], 0, 0, true),
        q.getJobs(['wait'], 0, 0, false),
        q.getJobs(['prioritized'], 0, 0, true),
      ]);
      out.counts[q.name] = counts;
      const stamps = [...waitAsc, ...waitDesc, ...prioritized].flatMap((j) => (j && Number.isFinite(j.timestamp) ? [j.timestamp] : []));
      out.oldest[q.name] = stamps.length ? Math.max(0, (now - Math.min(...stamps)) / 1000) : 0;
    }),
  );
  return out;
}

export const queueJobs = new Gauge({
  name: 'casebridge_queue_jobs',
  help: 'Jobs per queue and state (waiting, active, delayed, prioritized, failed)',
  labelNames: ['queue', 'state'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    const q = await cached('queues', readQueues);
    if (!q) return;
    for (const [queue, counts] of Object.entries(q.counts)) for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0);
  },
});

export const queueOldestAge = new Gauge({
  name: 'casebridge_queue_oldest_job_age_seconds',
  help: 'Age of the oldest job waiting to run per queue (0 when none waits)',
  labelNames: ['queue'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    const q = await cached('queues', readQueues);
    if (!q) return;
    for (const [queue, seconds] of Object.entries(q.oldest)) this.set({ queue }, seconds);
  },
});

export const unknownOutcomesOpen = new Gauge({
  name: 'casebridge_transfer_unknown_open',
  help: 'Provider calls of unknown outcome (no answer) not yet resolved by reading the provider, by platform',
  labelNames: ['platform'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    // Uses the partial index transfer_log_open (outcome in intent, unknown) and transfer_log_intent.
    const rows = await cached(
      'unknown',
      async (s) =>
        (
          await sql<{ platform: string | null; open: string | number }>`
          SELECT t.platform, count(*) AS open FROM transfer_log t
          WHERE t.outcome = 'unknown' AND NOT EXISTS (
            SELECT 1 FROM transfer_log o WHERE o.intent_id = t.intent_id AND o.outcome = 'resolved' AND o.seq > t.seq
          )
          GROUP BY t.platform`.execute(s.db)
        ).rows,
    );
    if (!rows) return;
    for (const r of rows) this.set({ platform: r.platform ?? 'unknown' }, Number(r.open));
  },
});

export const checkpointAge = new Gauge({
  name: 'casebridge_checkpoint_age_seconds',
  help: 'Longest time transfer-log rows have waited for a signed checkpoint: per organization with unsealed rows, now minus its latest checkpoint (or its first row); the maximum; 0 when all rows are sealed',
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    const age = await cached('checkpoints', async (s) => {
      const rows = await sql<{ since: Date | string | null }>`
        SELECT coalesce(c.sealed_at, (SELECT min(t.created_at) FROM transfer_log t WHERE t.organization_id = h.organization_id)) AS since
        FROM transfer_log_heads h
        LEFT JOIN LATERAL (
          SELECT k.seq, k.sealed_at FROM transfer_log_checkpoints k WHERE k.organization_id = h.organization_id ORDER BY k.seq DESC LIMIT 1
        ) c ON true
        WHERE h.seq > coalesce(c.seq, 0)`.execute(s.db);
      const now = Date.now();
      return rows.rows.reduce((max, r) => (r.since ? Math.max(max, (now - new Date(r.since).getTime()) / 1000) : max), 0);
    });
    if (age !== null) this.set(age);
  },
});
