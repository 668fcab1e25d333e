import { type Job, Worker } from 'bullmq';
import { processRevocation } from '../src/revocation/process.ts';
import type { RevokeJobData } from '../src/revocation/queue.ts';
import type { Services } from '../src/services.ts';
import { queueWorkerControl, type RunningQueueWorker, tracedJob } from './connection-worker.ts';
import { bullPrefix, QUEUE_NAMES } from './definitions.ts';

/**
 * The `revoke` queue's worker. Failed provider steps make the job throw; BullMQ retries with
 * exponential backoff and the last attempt shreds the tokens and seals the receipt whatever the
 * provider said (the local effect never depended on it).
 */

/** Thrown to make BullMQ retry while a provider step is pending. */
export class ProviderStepPendingError extends Error {
  constructor() {
    super('a provider-side revocation step failed; retrying');
    this.name = 'ProviderStepPendingError';
  }
}

/** Starts the revoke worker (waiting and delayed sync jobs are removed through the sync queue). */
export function startRevokeWorker(services: Services): RunningQueueWorker & { worker: Worker<RevokeJobData> } {
  const control = queueWorkerControl({ queue: QUEUE_NAMES.revoke, connection: () => services.redis, logger: services.logger });
  const worker = new Worker<RevokeJobData>(
    QUEUE_NAMES.revoke,
    // In a CONSUMER span continuing the revocation request's trace (see connection-worker.ts).
    control.track(async (job: Job<RevokeJobData>) =>
      tracedJob(QUEUE_NAMES.revoke, job, async () => {
        const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        const outcome = await processRevocation(services, {
          revocationId: job.data.revocationId,
          finalAttempt,
          cancelJobs: (ids) => services.queues.cancelConnectionJobs(ids),
        });
        if (outcome === 'retry') throw new ProviderStepPendingError();
        return outcome;
      }),
    ),
    { connection: services.redis, prefix: bullPrefix(services.config), concurrency: 4 },
  );
  worker.on('failed', (job, err) => {
    if (!(err instanceof ProviderStepPendingError)) services.logger.error({ err, revocationId: job?.data.revocationId }, 'revocation job failed');
  });
  return { worker, ...control.bind(worker) };
}
