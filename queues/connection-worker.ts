import { DelayedError, type Job, Worker } from 'bullmq';
import type { Config } from '../src/config/load.ts';
import type { Logger } from '../src/observability/logger.ts';
import { inSpan, type JobOrigin, originContext, runWithRequestId, SpanKind } from '../src/observability/tracing.ts';
import { createRedisClient, type RedisClient } from '../src/redis.ts';
import { bullPrefix } from './definitions.ts';

/** One queue worker's state for health checks: consuming = running, not paused, its Redis connection ready. */
export interface QueueWorkerHealth {
  queue: string;
  consuming: boolean;
  redis: string;
  activeJobs: number;
}

/** A running queue worker of this process, as `startWorkers` manages it. */
export interface RunningQueueWorker {
  health(): QueueWorkerHealth;
  /**
   * Stops taking jobs and waits for the running ones up to `graceMs` (unbounded without); jobs still
   * running then are handed back to the queue (moved to waiting with this worker's lock) and the
   * worker is closed without waiting for them.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/**
 * Wraps a BullMQ worker for graceful shutdown and health: `track` wraps its processor so the jobs
 * under way (and their lock tokens) are known; `close` waits up to the grace, then hands the rest back.
 */
export function queueWorkerControl(params: { queue: string; connection: () => RedisClient | null; logger: Logger }): {
  track<T>(processor: (job: Job, token?: string) => Promise<T>): (job: Job, token?: string) => Promise<T>;
  /** `onHandBack`: runs after a shutdown handed running jobs back (e.g. give back what they held). */
  bind(worker: Worker, closeExtra?: () => Promise<unknown>, onHandBack?: () => Promise<unknown>): RunningQueueWorker;
} {
  const active = new Map<string, { job: Job; token: string | undefined }>();
  return {
    track(processor) {
      return async (job, token) => {
        const key = `${job.id}:${token ?? ''}`;
        active.set(key, { job, token });
        try {
          return await processor(job, token);
        } finally {
          active.delete(key);
        }
      };
    },
    bind(worker, closeExtra, onHandBack) {
      return {
        health() {
          const redis = params.connection()?.status ?? 'unknown';
          return { queue: params.queue, consuming: worker.isRunning() && !worker.isPaused() && redis === 'ready', redis, activeJobs: active.size };
        },
        async close(options = {}) {
          const graceful = worker.close();
          if (options.graceMs !== undefined) {
            let timer: NodeJS.Timeout | undefined;
            const timedOut = await Promise.race([
              graceful.then(() => false),
              new Promise<boolean>((resolve) => {
                timer = setTimeout(() => resolve(true), options.graceMs);
              }),
            ]);
            clearTimeout(timer);
            if (timedOut) {
              // BullMQ cannot turn a graceful close into a forced one, and the running processors
              // cannot be stopped from outside: their jobs go back to waiting now (under this
              // worker's lock, so another worker can take them at once), and the process ends
              // without waiting for them. Their late lock renewals and completions then fail
              // harmlessly (the lock is gone).
              const running = [...active.values()];
              params.logger.warn({ queue: params.queue, jobs: running.map((r) => r.job.id) }, 'shutdown grace over: handing running jobs back to the queue');
              worker.removeAllListeners('error');
              worker.on('error', () => undefined);
              for (const { job, token } of running) await job.moveToWait(token).catch(() => undefined);
              graceful.catch(() => undefined);
              if (running.length) await onHandBack?.().catch(() => undefined);
            } else await graceful;
          } else await graceful;
          await closeExtra?.();
        },
      };
    },
  };
}

/**
 * A BullMQ worker for a queue of one-job-per-connection runs (`sync`, `import`): its own blocking
 * Redis connection, the job lock and stalled-job recovery sized by `lockMs` (a killed worker's job is
 * handed over after about one lock period, at most twice), failures logged with the connection id.
 * `close()` calls `onClose` first (so running jobs stop at their next boundary), then waits for them
 * (up to a grace, after which they are handed back to the queue).
 */
export function createConnectionWorker(params: {
  queue: string;
  processor: (job: Job, token?: string) => Promise<unknown>;
  config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'REDIS_PREFIX' | 'SYNC_CONCURRENCY'>;
  logger: Logger;
  lockMs: number;
  concurrency?: number;
  onClose(): void;
  /** After a shutdown handed running jobs back to the queue (their processors are abandoned). */
  onHandBack?(): Promise<void>;
}): RunningQueueWorker & { worker: Worker } {
  const { queue, config, logger, lockMs } = params;
  // Workers block on Redis: they get their own connection.
  const connection = createRedisClient(config);
  connection.on('error', () => undefined); // reconnects by itself; the worker reports failures
  const control = queueWorkerControl({ queue, connection: () => connection, logger });
  const worker = new Worker(
    queue,
    control.track((job: Job, token?: string) => tracedJob(queue, job, () => params.processor(job, token))),
    {
      connection,
      prefix: bullPrefix(config),
      concurrency: params.concurrency ?? config.SYNC_CONCURRENCY,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 2,
    },
  );
  worker.on('failed', (job, err) => {
    const data = job?.data as { connectionId?: string; origin?: Partial<JobOrigin> } | undefined;
    logger.warn({ jobId: job?.id, connectionId: data?.connectionId, requestId: data?.origin?.requestId, err: err.message }, `${queue} job failed`);
  });
  worker.on('error', (err) => logger.error({ err }, `${queue} worker error`));
  const running = control.bind(worker, () => connection.quit().catch(() => undefined), params.onHandBack && (() => params.onHandBack!()));
  return {
    worker,
    health: running.health,
    async close(options) {
      params.onClose();
      await running.close(options);
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
