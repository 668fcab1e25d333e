import { DelayedError, type Job, Worker } from 'bullmq';
import { createRedisClient } from '../src/redis.ts';
import type { Services } from '../src/services.ts';
import { attemptDelivery } from '../src/webhooks/deliver.ts';
import { markDispatched, undispatchedDeliveries } from '../src/webhooks/outbox.ts';
import { queueWorkerControl, type RunningQueueWorker } from './connection-worker.ts';
import { bullPrefix, QUEUE_NAMES, WEBHOOK_DELIVER_JOB, WEBHOOK_DISPATCH_JOB, webhookDeliverJobSchema } from './definitions.ts';

/**
 * The `webhooks` queue's worker:
 * - `dispatch` (a job scheduler, every WEBHOOK_DISPATCH_INTERVAL_MS): moves pending deliveries from
 *   the outbox table (written with the change they report) onto the queue, one job per delivery;
 *   a stale one (dispatched, no attempt for minutes: its job failed or was lost) is put back;
 * - `deliver`: one attempt (src/webhooks/deliver.ts); after a failed POST the job moves itself to
 *   delayed for the delivery's backoff, so a receiver that is down for hours gets its events once it
 *   is back, for up to WEBHOOK_RETRY_WINDOW_SECONDS.
 * At least once: a crash after the POST and before the log write repeats the POST; receivers
 * deduplicate on the event id.
 */
export async function startWebhookWorker(services: Services): Promise<RunningQueueWorker> {
  const { config, logger, queues } = services;
  const queue = queues.webhooks;
  await queue.upsertJobScheduler(
    WEBHOOK_DISPATCH_JOB,
    { every: config.WEBHOOK_DISPATCH_INTERVAL_MS },
    { name: WEBHOOK_DISPATCH_JOB, data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );

  const dispatch = async () => {
    const { fresh, stale } = await undispatchedDeliveries(services.db);
    for (const id of stale) {
      const job = await queue.getJob(id);
      const state = job ? await job.getState() : 'unknown';
      if (job && (state === 'failed' || state === 'completed')) await job.remove().catch(() => undefined);
    }
    const ids = [...fresh, ...stale];
    await queues.enqueueWebhookDeliveries(ids);
    await markDispatched(services.db, ids);
    return { dispatched: ids.length };
  };

  // Its own blocking connection (Redis Cluster aware, like every worker's).
  const connection = createRedisClient(config);
  connection.on('error', () => undefined); // reconnects by itself; the worker reports failures
  const control = queueWorkerControl({ queue: QUEUE_NAMES.webhooks, connection: () => connection, logger });
  const worker = new Worker(
    QUEUE_NAMES.webhooks,
    control.track(async (job: Job, token?: string) => {
      if (job.name === WEBHOOK_DISPATCH_JOB) return dispatch();
      if (job.name !== WEBHOOK_DELIVER_JOB) throw new Error(`unknown webhooks job ${job.name}`);
      const { deliveryId } = webhookDeliverJobSchema.parse(job.data);
      const result = await attemptDelivery(services, deliveryId);
      if (result.outcome === 'retry') {
        await job.moveToDelayed(Date.now() + result.retryInMs, token);
        throw new DelayedError();
      }
      return result;
    }),
    { connection, prefix: bullPrefix(config), concurrency: 8 },
  );
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, job: job?.name, err: err.message }, 'webhooks job failed'));
  worker.on('error', (err) => logger.error({ err }, 'webhooks worker error'));
  return control.bind(worker, () => connection.quit().catch(() => undefined));
}
