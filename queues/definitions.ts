import { type JobsOptions, Queue } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../src/config/load.ts';
import type { Logger } from '../src/observability/logger.ts';
import { inSpan, jobOrigin, SpanKind } from '../src/observability/tracing.ts';
import type { RedisClient as Redis } from '../src/redis.ts';

/**
 * BullMQ queues and job payloads. Every queue lives under `bull:<REDIS_PREFIX>` so deployments (and
 * test files) sharing one Redis never see each other's jobs.
 *
 * - `sync`: one reconcile per connection, deduplicated by connection id with `keepLastIfActive`: a
 *   burst of changes becomes one waiting job, and a change that lands while a run is active leaves
 *   exactly one follow-up job that starts when the active one finishes — never two runs in parallel.
 *   Per-connection job schedulers (`full:<connectionId>`) add `full-reconcile` jobs every
 *   FULL_RECONCILE_INTERVAL_MINUTES; those just enqueue a deduplicated `sync`. Likewise pulled
 *   connections have an `import:<connectionId>` scheduler on the `import` queue (`scheduled-import`
 *   every IMPORT_INTERVAL_MINUTES, default 30); revocation and re-authorization remove both.
 * - `import`: inbound pulls with a stored cursor (src/sync/pull.ts), one job per connection,
 *   deduplicated exactly like `sync`; `revoke`: provider-side revocation and clean-up,
 *   `maintenance`: periodic housekeeping (log sealing, retention). Their workers plug in via
 *   `queues/index.ts`.
 * - `webhooks`: signed event deliveries to the platform's backend (src/webhooks/), one job per
 *   delivery (job id = delivery id, so dispatching twice is harmless), plus a `dispatch` job
 *   scheduler that moves new deliveries from the outbox table onto the queue
 *   (queues/webhook-worker.ts).
 */

export const QUEUE_NAMES = { sync: 'sync', import: 'import', revoke: 'revoke', maintenance: 'maintenance', webhooks: 'webhooks' } as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** BullMQ key prefix of this deployment. */
export function bullPrefix(config: Pick<Config, 'REDIS_PREFIX'>): string {
  return `bull:${config.REDIS_PREFIX}`;
}

/**
 * Where a job came from (src/observability/tracing.ts `jobOrigin`): the request id and W3C trace
 * context of the enqueuer, and when it was enqueued — for a `change` run, right after the ingest
 * committed: the start of the sync lag. Optional: jobs enqueued before this field existed lack it.
 */
export const jobOriginSchema = z
  .object({
    requestId: z.string().max(200).optional(),
    traceparent: z.string().max(100).optional(),
    tracestate: z.string().max(512).optional(),
    enqueuedAt: z.number().int().nonnegative(),
  })
  .optional();

export const SYNC_JOB = 'sync';
export const FULL_RECONCILE_JOB = 'full-reconcile';

export const syncJobSchema = z.object({
  connectionId: z.uuid(),
  /** Why the run was asked for (shown in progress; `full` asks for drift repair). */
  reason: z.enum(['connect', 'change', 'settings', 'consent', 'full', 'manual', 'reconnect']),
  /** How often the run was pushed back by rate limits in a row (backoff exponent). */
  rateLimited: z.number().int().min(0).optional(),
  origin: jobOriginSchema,
});
export type SyncJobData = z.infer<typeof syncJobSchema>;

export const IMPORT_JOB = 'import';
/** A per-connection job scheduler's tick (`import:<connectionId>`, every IMPORT_INTERVAL_MINUTES): enqueues a deduplicated `import`. */
export const SCHEDULED_IMPORT_JOB = 'scheduled-import';

export const importJobSchema = z.object({
  connectionId: z.uuid(),
  /** Why the import was asked for. */
  reason: z.enum(['connect', 'schedule', 'manual', 'reconnect', 'consent']),
  /** How often the run was pushed back by rate limits in a row (backoff exponent). */
  rateLimited: z.number().int().min(0).optional(),
  origin: jobOriginSchema,
});
export type ImportJobData = z.infer<typeof importJobSchema>;

export const fullReconcileJobSchema = z.object({ connectionId: z.uuid() });

export const maintenanceJobSchema = z.object({ task: z.enum(['seal-checkpoints', 'enforce-retention']) });
export type MaintenanceJobData = z.infer<typeof maintenanceJobSchema>;

export const WEBHOOK_DELIVER_JOB = 'deliver';
export const WEBHOOK_DISPATCH_JOB = 'dispatch';
export const webhookDeliverJobSchema = z.object({ deliveryId: z.uuid() });
export type WebhookDeliverJobData = z.infer<typeof webhookDeliverJobSchema>;

/**
 * A delivery job. Its backoff between failed POSTs is the delivery's own (src/webhooks/deliver.ts:
 * the job moves itself to delayed, up to 3 days); these attempts only cover a crash or a database
 * error inside the processor.
 */
export const WEBHOOK_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 5000 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
};

/** Retries of a failing reconcile: exponential with jitter, ~2 s to ~1 h, then the job fails for good. */
export const SYNC_JOB_OPTIONS: JobsOptions = {
  attempts: 12,
  backoff: { type: 'exponential', delay: 2000, jitter: 0.5 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
};

/** The queues of one process plus the operations the rest of the code needs. */
export interface CasebridgeQueues {
  sync: Queue;
  import: Queue;
  revoke: Queue;
  maintenance: Queue;
  webhooks: Queue;
  /** Puts webhook deliveries on the queue (a delivery already there is left as it is). */
  enqueueWebhookDeliveries(deliveryIds: readonly string[]): Promise<void>;
  /** Asks for a reconcile of the connection (deduplicated: see the module comment). */
  enqueueSync(connectionId: string, reason: SyncJobData['reason']): Promise<void>;
  enqueueSyncMany(connectionIds: string[], reason: SyncJobData['reason']): Promise<void>;
  /** Asks for an import of a pulled connection (deduplicated per connection like `sync`). */
  enqueueImport(connectionId: string, reason: ImportJobData['reason']): Promise<void>;
  /** Starts (or updates) the connection's periodic full reconcile. */
  scheduleFullReconcile(connectionId: string): Promise<void>;
  /** Starts (or updates) the periodic import of a pulled connection (every IMPORT_INTERVAL_MINUTES). */
  scheduleImport(connectionId: string): Promise<void>;
  /**
   * Removes the connection's waiting and delayed sync and import jobs and its scheduler (a running job stops on
   * its own at its next gate call or chunk boundary). Returns how many jobs were removed.
   */
  cancelConnectionJobs(connectionIds: string[]): Promise<number>;
  close(): Promise<void>;
}

export function createQueues(deps: { redis: Redis; config: Config; logger: Logger }): CasebridgeQueues {
  const { redis, config } = deps;
  const prefix = bullPrefix(config);
  // Queues only issue non-blocking commands: they share the process's Redis connection.
  const make = (name: QueueName) => new Queue(name, { connection: redis, prefix });
  const sync = make(QUEUE_NAMES.sync);
  const imp = make(QUEUE_NAMES.import);
  const revoke = make(QUEUE_NAMES.revoke);
  const maintenance = make(QUEUE_NAMES.maintenance);
  const webhooks = make(QUEUE_NAMES.webhooks);

  const syncJob = (connectionId: string, reason: SyncJobData['reason']) => ({
    name: SYNC_JOB,
    data: { connectionId, reason, origin: jobOrigin() } satisfies SyncJobData,
    opts: { ...SYNC_JOB_OPTIONS, deduplication: { id: connectionId, keepLastIfActive: true } },
  });

  return {
    sync,
    import: imp,
    revoke,
    maintenance,
    webhooks,
    async enqueueWebhookDeliveries(deliveryIds) {
      if (!deliveryIds.length) return;
      await webhooks.addBulk(
        deliveryIds.map((deliveryId) => ({
          name: WEBHOOK_DELIVER_JOB,
          data: { deliveryId } satisfies WebhookDeliverJobData,
          opts: { ...WEBHOOK_JOB_OPTIONS, jobId: deliveryId },
        })),
      );
    },
    async enqueueSync(connectionId, reason) {
      await enqueueSpan(QUEUE_NAMES.sync, reason, 1, async () => {
        const j = syncJob(connectionId, reason);
        await sync.add(j.name, j.data, j.opts);
      });
    },
    async enqueueSyncMany(connectionIds, reason) {
      if (!connectionIds.length) return;
      const ids = [...new Set(connectionIds)];
      await enqueueSpan(QUEUE_NAMES.sync, reason, ids.length, () => sync.addBulk(ids.map((id) => syncJob(id, reason))));
    },
    async enqueueImport(connectionId, reason) {
      await enqueueSpan(QUEUE_NAMES.import, reason, 1, () =>
        imp.add(IMPORT_JOB, { connectionId, reason, origin: jobOrigin() } satisfies ImportJobData, {
          ...SYNC_JOB_OPTIONS,
          deduplication: { id: connectionId, keepLastIfActive: true },
        }),
      );
    },
    async scheduleFullReconcile(connectionId) {
      await sync.upsertJobScheduler(
        `full:${connectionId}`,
        { every: config.FULL_RECONCILE_INTERVAL_MINUTES * 60_000 },
        { name: FULL_RECONCILE_JOB, data: { connectionId }, opts: { removeOnComplete: true, removeOnFail: { count: 100 } } },
      );
    },
    async scheduleImport(connectionId) {
      const every = config.IMPORT_INTERVAL_MINUTES * 60_000;
      // First tick one interval from now: whoever schedules has just queued an import (connect,
      // reconnect), and a tick at once (BullMQ's default) queued a second, no-change run behind it.
      // (startDate places only the first tick of a new scheduler.)
      await imp.upsertJobScheduler(
        `import:${connectionId}`,
        { every, startDate: Date.now() + every },
        { name: SCHEDULED_IMPORT_JOB, data: { connectionId }, opts: { removeOnComplete: true, removeOnFail: { count: 100 } } },
      );
    },
    async cancelConnectionJobs(connectionIds) {
      let removed = 0;
      for (const id of connectionIds) {
        await sync.removeJobScheduler(`full:${id}`);
        await imp.removeJobScheduler(`import:${id}`);
        for (const queue of [sync, imp]) removed += await removeWaitingJob(queue, id, deps.logger);
      }
      return removed;
    },
    async close() {
      await Promise.all([sync.close(), imp.close(), revoke.close(), maintenance.close(), webhooks.close()]);
    },
  };
}

/**
 * The PRODUCER span of an enqueue: the jobs' origin (built inside it) names it as their parent. A job
 * deduplicated into one already waiting keeps that job's origin, so its trace ends here.
 */
function enqueueSpan<T>(queue: QueueName, reason: string, jobs: number, add: () => Promise<T>): Promise<T> {
  return inSpan(
    `${queue} publish`,
    {
      kind: SpanKind.PRODUCER,
      attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': queue, 'casebridge.reason': reason, 'casebridge.jobs': jobs },
    },
    add,
  );
}

/** Removes a connection's deduplicated waiting or delayed job from one queue; returns 1 when one was removed. */
async function removeWaitingJob(queue: Queue, connectionId: string, logger: Logger): Promise<number> {
  const jobId = await queue.getDeduplicationJobId(connectionId);
  if (!jobId) return 0;
  let removed = 0;
  const job = await queue.getJob(jobId);
  const state = job ? await job.getState() : 'unknown';
  if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
    await job.remove().then(
      () => {
        removed = 1;
      },
      // A worker may have picked it up meanwhile: it then stops at its own status check.
      (err: unknown) => logger.debug({ err, connectionId, queue: queue.name }, 'job could not be removed'),
    );
  }
  if (state !== 'active') await queue.removeDeduplicationKey(connectionId);
  return removed;
}
