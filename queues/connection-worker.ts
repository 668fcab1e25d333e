import { type Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../src/config/load.ts';
import type { Logger } from '../src/observability/logger.ts';
import { bullPrefix } from './definitions.ts';

/**
 * A BullMQ worker for a queue of one-job-per-connection runs (`sync`, `import`): its own blocking
 * Redis connection, the job lock and stalled-job recovery sized by `lockMs` (a killed worker's job is
 * handed over after about one lock period, at most twice), failures logged with the connection id.
 * `close()` calls `onClose` first (so running jobs stop at their next boundary), then waits for them.
 */
export function createConnectionWorker(params: {
  queue: string;
  processor: (job: Job) => Promise<unknown>;
  config: Pick<Config, 'REDIS_URL' | 'REDIS_PREFIX' | 'SYNC_CONCURRENCY'>;
  logger: Logger;
  lockMs: number;
  concurrency?: number;
  onClose(): void;
}): { worker: Worker; close(): Promise<void> } {
  const { queue, config, logger, lockMs } = params;
  // Workers block on Redis: they get their own connection.
  const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined); // reconnects by itself; the worker reports failures
  const worker = new Worker(queue, params.processor, {
    connection,
    prefix: bullPrefix(config),
    concurrency: params.concurrency ?? config.SYNC_CONCURRENCY,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: 2,
  });
  worker.on('failed', (job, err) => {
    logger.warn({ jobId: job?.id, connectionId: (job?.data as { connectionId?: string } | undefined)?.connectionId, err: err.message }, `${queue} job failed`);
  });
  worker.on('error', (err) => logger.error({ err }, `${queue} worker error`));
  return {
    worker,
    async close() {
      params.onClose();
      await worker.close();
      await connection.quit().catch(() => undefined);
    },
  };
}
