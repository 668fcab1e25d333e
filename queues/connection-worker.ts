import { DelayedError, type Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../src/config/load.ts';
import type { Logger } from '../src/observability/logger.ts';
import { inSpan, type JobOrigin, originContext, runWithRequestId, SpanKind } from '../src/observability/tracing.ts';
import { bullPrefix } from './definitions.ts';

/**
 * A BullMQ worker for a queue of one-job-per-connection runs (`sync`, `import`): its own blocking
 * Redis connection, the job lock and stalled-job recovery sized by `lockMs` (a killed worker's job is
 * handed over after about one lock period, at most twice), failures logged with the connection id.
 * `close()` calls `onClose` first (so running jobs stop at their next boundary), then waits for them.
 */
export function createConnectionWorker(params: {
  queue: string;
  processor: (job: Job, token?: string) => Promise<unknown>;
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
  const worker = new Worker(queue, (job: Job, token?: string) => tracedJob(queue, job, () => params.processor(job, token)), {
    connection,
    prefix: bullPrefix(config),
    concurrency: params.concurrency ?? config.SYNC_CONCURRENCY,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: 2,
  });
  worker.on('failed', (job, err) => {
    const data = job?.data as { connectionId?: string; origin?: Partial<JobOrigin> } | undefined;
    logger.warn({ jobId: job?.id, connectionId: data?.connectionId, requestId: data?.origin?.requestId, err: err.message }, `${queue} job failed`);
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

/**
 * Runs a job in a CONSUMER span whose parent is the enqueuer's (the trace context in the job's
 * `origin`), with the originating request id in scope: jobs it enqueues carry it on. A job moved
 * back to delayed (rate limit, lock busy) is not an error.
 */
export function tracedJob<T>(queue: string, job: Job, processor: () => Promise<T>): Promise<T> {
  const data = (job.data ?? {}) as { connectionId?: unknown; reason?: unknown; origin?: Partial<JobOrigin> };
  const origin = data.origin && typeof data.origin === 'object' ? data.origin : undefined;
  const attributes = {
    'messaging.system': 'bullmq',
    'messaging.destination.name': queue,
    'messaging.message.id': String(job.id),
    'casebridge.job_name': job.name,
    'casebridge.attempt': job.attemptsMade + 1,
    ...(typeof data.connectionId === 'string' ? { 'casebridge.connection_id': data.connectionId } : {}),
    ...(typeof data.reason === 'string' ? { 'casebridge.reason': data.reason } : {}),
    ...(typeof origin?.requestId === 'string' ? { 'casebridge.request_id': origin.requestId } : {}),
  };
  return runWithRequestId(typeof origin?.requestId === 'string' ? origin.requestId : undefined, () =>
    inSpan(`${queue} process`, { kind: SpanKind.CONSUMER, attributes, parent: originContext(origin), isError: (err) => !(err instanceof DelayedError) }, () =>
      processor(),
    ),
  );
}
