import { type Job, Worker } from 'bullmq';
import { connectors } from '../connectors/registry.ts';
import { collectBlobs } from '../src/blobs/collect.ts';
import { recoverPendingInvitations } from '../src/invitations/recovery.ts';
import { createRedisClient } from '../src/redis.ts';
import type { Services } from '../src/services.ts';
import { sealCheckpoints } from '../src/transfers/checkpoints.ts';
import { recoverOpenTransfers } from '../src/transfers/resolution.ts';
import { enforceRetention } from '../src/transfers/retention.ts';
import { pruneWebhookLog } from '../src/webhooks/outbox.ts';
import { queueWorkerControl, type RunningQueueWorker } from './connection-worker.ts';
import { bullPrefix, QUEUE_NAMES } from './definitions.ts';

/**
 * The `maintenance` queue: job schedulers for periodic housekeeping, one worker to run them.
 * - `seal-checkpoints` every CHECKPOINT_INTERVAL_MINUTES (signed transfer-log checkpoints);
 * - `enforce-retention` daily (transfer-log retention);
 * - `ensure-sync-schedules` hourly: every active sync connection has its full-reconcile scheduler
 *   (self-healing after a Redis loss; upserting is idempotent);
 * - `collect-blobs` daily: document bytes no live document refers to are removed (`collectBlobs`);
 * - `recover-transfers` every minute: open intents past the lease deadline become `unknown`, and
 *   every `unknown` is resolved by reading the provider (`recoverOpenTransfers`).
 * - `prune-webhooks` daily: webhook events and deliveries older than WEBHOOK_LOG_RETENTION_DAYS,
 *   once settled (`pruneWebhookLog`).
 * - `recover-invitations` every minute: invitations left `pending` by a process that died mid-send
 *   are settled from the transfer log (`recoverPendingInvitations`).
 * Add a task: a name in `TASKS`, a case in `runTask`, and its schedule in `SCHEDULES`.
 */

export const TASKS = [
  'seal-checkpoints',
  'enforce-retention',
  'ensure-sync-schedules',
  'collect-blobs',
  'recover-transfers',
  'prune-webhooks',
  'recover-invitations',
] as const;
export type MaintenanceTask = (typeof TASKS)[number];

function schedules(services: Services): Array<{ task: MaintenanceTask; everyMs: number }> {
  return [
    { task: 'seal-checkpoints', everyMs: services.config.CHECKPOINT_INTERVAL_MINUTES * 60_000 },
    { task: 'enforce-retention', everyMs: 24 * 3600_000 },
    { task: 'ensure-sync-schedules', everyMs: 3600_000 },
    { task: 'collect-blobs', everyMs: 24 * 3600_000 },
    { task: 'recover-transfers', everyMs: 60_000 },
    { task: 'prune-webhooks', everyMs: 24 * 3600_000 },
    { task: 'recover-invitations', everyMs: 60_000 },
  ];
}

/** Runs one maintenance task now (also used by tests and the CLI). */
export async function runTask(services: Services, task: MaintenanceTask): Promise<unknown> {
  switch (task) {
    case 'seal-checkpoints':
      return sealCheckpoints(services);
    case 'enforce-retention':
      return enforceRetention(services);
    case 'ensure-sync-schedules': {
      const platforms = connectors.filter((c) => c.sync).map((c) => c.manifest.id);
      const pulled = connectors.filter((c) => c.pull).map((c) => c.manifest.id);
      const active = (ids: string[]) =>
        ids.length
          ? services.db.selectFrom('connections').select('id').where('status', '=', 'active').where('platform', 'in', ids).execute()
          : Promise.resolve([]);
      const rows = await active(platforms);
      for (const r of rows) await services.queues.scheduleFullReconcile(r.id);
      // Pulled connections' periodic imports (e.g. after IMPORT_INTERVAL_MINUTES changed).
      const imports = await active(pulled);
      for (const r of imports) await services.queues.scheduleImport(r.id);
      return { scheduled: rows.length + imports.length };
    }
    case 'collect-blobs':
      return collectBlobs(services);
    case 'recover-transfers':
      return recoverOpenTransfers(services);
    case 'prune-webhooks':
      return pruneWebhookLog(services.db, services.config.WEBHOOK_LOG_RETENTION_DAYS);
    case 'recover-invitations':
      return recoverPendingInvitations(services);
  }
}

/** Upserts the schedulers and starts the maintenance worker. */
export async function startMaintenance(services: Services): Promise<RunningQueueWorker> {
  const queue = services.queues.maintenance;
  for (const s of schedules(services)) {
    await queue.upsertJobScheduler(s.task, { every: s.everyMs }, { name: s.task, data: { task: s.task }, opts: { removeOnComplete: 100, removeOnFail: 500 } });
  }
  const connection = createRedisClient(services.config);
  connection.on('error', () => undefined);
  const control = queueWorkerControl({ queue: QUEUE_NAMES.maintenance, connection: () => connection, logger: services.logger });
  const worker = new Worker(
    QUEUE_NAMES.maintenance,
    control.track(async (job: Job) => {
      const task = (job.data as { task?: string }).task as MaintenanceTask;
      if (!TASKS.includes(task)) throw new Error(`unknown maintenance task ${String(task)}`);
      return runTask(services, task);
    }),
    { connection, prefix: bullPrefix(services.config), concurrency: 1 },
  );
  worker.on('failed', (job, err) => services.logger.error({ task: job?.name, err: err.message }, 'maintenance task failed'));
  worker.on('error', (err) => services.logger.error({ err }, 'maintenance worker error'));
  return control.bind(worker, () => connection.quit().catch(() => undefined));
}
