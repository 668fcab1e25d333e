import { DelayedError, type Job, UnrecoverableError, type Worker } from 'bullmq';
import { connectorFor } from '../connectors/registry.ts';
import type { Connector, ConnectorPull } from '../connectors/types.ts';
import { markReauthRequired } from '../src/connections/lifecycle.ts';
import { tryLock } from '../src/connections/redis-lock.ts';
import { createTokenAccess, ReauthRequiredError } from '../src/connections/token-refresh.ts';
import { redisKey } from '../src/redis.ts';
import type { Services } from '../src/services.ts';
import { PermanentRunError, RateLimitedRunError, RunInterruptedError } from '../src/sync/errors.ts';
import { type PullResult, runImport } from '../src/sync/pull.ts';
import { createConnectionWorker, type RunningQueueWorker } from './connection-worker.ts';
import { type ImportJobData, importJobSchema, QUEUE_NAMES } from './definitions.ts';
import { rateLimitBackoffMs } from './sync-worker.ts';

/**
 * The `import` queue's worker: one import (src/sync/pull.ts) per job, jobs deduplicated per
 * connection (queues/definitions.ts) and one run per connection at a time (a Redis run lock, as for
 * `sync`). Rate limited → delayed by Retry-After or backoff; re-authorization needed or permanent →
 * no retries; transient → BullMQ retries with backoff; shutdown → back to delayed at a page boundary.
 */

export interface ImportWorkerOptions {
  concurrency?: number;
  /** Where platforms are looked up (default: the connector registry). */
  connectors?: readonly Connector[];
}

export function createImportWorker(services: Services, options: ImportWorkerOptions = {}): RunningQueueWorker & { worker: Worker } {
  const { config, logger } = services;
  const lockMs = config.SYNC_JOB_LOCK_SECONDS * 1000;
  const lookup = (platform: string) => (options.connectors ? options.connectors.find((c) => c.manifest.id === platform) : connectorFor(platform));
  let stopping = false;

  const processor = async (job: Job, token?: string): Promise<PullResult> => {
    const data: ImportJobData = importJobSchema.parse(job.data);
    const row = await services.db.selectFrom('connections').select(['platform', 'status']).where('id', '=', data.connectionId).executeTakeFirst();
    if (!row) return { status: 'skipped', reason: 'connection_missing' };
    if (row.status !== 'active') return { status: 'skipped', reason: `connection_${row.status}` };
    const connector = lookup(row.platform);
    if (!connector?.pull || !connector.manifest.capabilities.includes('pull')) return { status: 'skipped', reason: 'platform_without_pull' };

    const delay = async (ms: number, patch: Partial<ImportJobData> = {}): Promise<never> => {
      if (Object.keys(patch).length) await job.updateData({ ...data, ...patch });
      await job.moveToDelayed(Date.now() + Math.max(50, ms), token);
      throw new DelayedError();
    };
    const lock = await tryLock(services.redis, redisKey(config.REDIS_PREFIX, 'import-run', data.connectionId), lockMs);
    if (!lock) return delay(1000);
    const renew = setInterval(() => lock.extend(lockMs).catch(() => false), Math.max(500, Math.floor(lockMs / 3)));
    try {
      const onReauthRequired = async (id: string, message: string) => {
        await markReauthRequired(services, id, message);
      };
      const tokens = connector.oauth ? createTokenAccess(services, { oauth: connector.oauth, onReauthRequired }) : null;
      return await runImport(
        {
          services,
          connector: connector as Connector & { pull: ConnectorPull },
          accessToken: (id) => (tokens ? tokens.get(id) : Promise.reject(new PermanentRunError('no_credentials', 'this platform has no access token'))),
          actor: { kind: 'job', jobId: String(job.id), queue: QUEUE_NAMES.import },
          shouldStop: () => stopping,
        },
        { connectionId: data.connectionId },
      );
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof RateLimitedRunError) {
        const n = data.rateLimited ?? 0;
        return delay(err.waitMs > 0 ? err.waitMs : rateLimitBackoffMs(n), { rateLimited: n + 1 });
      }
      if (err instanceof RunInterruptedError) return delay(200);
      if (err instanceof ReauthRequiredError || err instanceof PermanentRunError) throw new UnrecoverableError(err.message);
      throw err;
    } finally {
      clearInterval(renew);
      await lock.release().catch(() => false);
    }
  };

  return createConnectionWorker({
    queue: QUEUE_NAMES.import,
    processor,
    config,
    logger,
    lockMs,
    concurrency: options.concurrency,
    // Running jobs stop at their next boundary (chunk or page) and return to delayed.
    onClose: () => {
      stopping = true;
    },
  });
}
