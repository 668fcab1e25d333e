import type { Services } from '../src/services.ts';
import type { QueueWorkerHealth, RunningQueueWorker } from './connection-worker.ts';
import { createImportWorker, type ImportWorkerOptions } from './import-worker.ts';
import { startMaintenance } from './maintenance.ts';
import { startRevokeWorker } from './revoke-worker.ts';
import { createSyncWorker, type SyncWorkerOptions } from './sync-worker.ts';
import { startWebhookWorker } from './webhook-worker.ts';

export type { QueueWorkerHealth } from './connection-worker.ts';

/** Running BullMQ workers of this process. */
export interface Workers {
  /**
   * Graceful: stops taking jobs and waits for the running ones (sync runs stop at their next chunk
   * boundary); with `graceMs`, jobs still running after it are handed back to the queue.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  /** Whether every queue worker is consuming (running, not paused, its Redis connection ready). */
  health(): { consuming: boolean; queues: QueueWorkerHealth[] };
}

/** Starts one more queue's worker; returns how to stop it and how it is doing. */
export type WorkerFactory = (services: Services) => Promise<RunningQueueWorker>;

/**
 * Workers of further queues: add a factory here, e.g. `(services) => startRevokeWorker(services)`
 * from `queues/revoke-worker.ts`. The queues themselves are defined in `queues/definitions.ts`.
 */
export const workerFactories: WorkerFactory[] = [async (services) => startRevokeWorker(services), startWebhookWorker];

export interface StartWorkersOptions {
  sync?: SyncWorkerOptions;
  import?: ImportWorkerOptions;
  /** Start the maintenance schedulers and worker (default true). */
  maintenance?: boolean;
}

/**
 * Starts every queue worker and job scheduler (sync, import, revoke, maintenance, webhooks) in this process.
 * `npm run start:worker` and `npm start` call it; `start:api` does not.
 */
export async function startWorkers(services: Services, options: StartWorkersOptions = {}): Promise<Workers> {
  const running: RunningQueueWorker[] = [];
  running.push(createSyncWorker(services, options.sync));
  running.push(createImportWorker(services, options.import));
  if (options.maintenance !== false) running.push(await startMaintenance(services));
  for (const start of workerFactories) running.push(await start(services));
  return {
    async close(closeOptions) {
      await Promise.all(running.map((w) => w.close(closeOptions)));
    },
    health() {
      const queues = running.map((w) => w.health());
      return { consuming: queues.every((q) => q.consuming), queues };
    },
  };
}
