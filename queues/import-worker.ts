import { DelayedError, type Job, UnrecoverableError, type Worker } from 'bullmq';
import { connectorFor } from '../connectors/registry.ts';
import type { Connector, ConnectorPull } from '../connectors/types.ts';
import { tryLock } from '../src/connections/redis-lock.ts';
import { connectionTokens } from '../src/connections/token-access.ts';
import { ReauthRequiredError } from '../src/connections/token-refresh.ts';
import { redisKey } from '../src/redis.ts';
import type { Services } from '../src/services.ts';
import { PermanentRunError, RateLimitedRunError, RunInterruptedError } from '../src/sync/errors.ts';
import { type PullResult, runImport } from '../src/sync/pull.ts';
import { recordSyncFailed, recordSyncSucceeded } from '../src/webhooks/connection-events.ts';
import { createConnectionWorker, type RunningQueueWorker } from './connection-worker.ts';
import { type ImportJobData, importJobSchema, QUEUE_NAMES, SCHEDULED_IMPORT_JOB } from './definitions.ts';
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

  // `sync.failed` once per failure episode (src/webhooks/); never fails the run.
  const importFailed = (connectionId: string, code: string) =>
    recordSyncFailed(services.db, { connectionId, code }).catch((e: unknown) => logger.error({ err: e, connectionId }, 'sync.failed webhook not recorded'));

  const processor = async (job: Job, token?: string): Promise<PullResult | { enqueued: string }> => {
    if (job.name === SCHEDULED_IMPORT_JOB) {
      // The scheduler's tick only asks for an import (deduplicated with any other request), unless
      // one ran less than half an interval ago (an on-demand import just before the tick, say).
      const id = importJobSchema.shape.connectionId.parse((job.data as { connectionId?: unknown }).connectionId);
      const last = await services.db.selectFrom('connector_cursors').select('updated_at').where('connection_id', '=', id).executeTakeFirst();
      if (last && Date.now() - last.updated_at.getTime() < (config.IMPORT_INTERVAL_MINUTES * 60_000) / 2)
        return { status: 'skipped', reason: 'imported_recently' };
      await services.queues.enqueueImport(id, 'schedule');
      return { enqueued: id };
    }
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
      const tokens = connector.oauth ? connectionTokens(services, connector.oauth, connector.manifest.id) : null;
      // The run's access token, leased until shortly before it expires (refreshed then, single
      // flight): one vault read and decryption per run instead of one per page, on the path of every
      // page's request.
      let leased: { accessToken: string; refreshAt: number } | null = null;
      const accessToken = async (id: string): Promise<string> => {
        if (!tokens) throw new PermanentRunError('no_credentials', 'this platform has no access token');
        if (!leased || Date.now() >= leased.refreshAt) leased = await tokens.lease(id);
        return leased.accessToken;
      };
      const result = await runImport(
        {
          services,
          connector: connector as Connector & { pull: ConnectorPull },
          accessToken,
          actor: { kind: 'job', jobId: String(job.id), queue: QUEUE_NAMES.import },
          shouldStop: () => stopping,
        },
        { connectionId: data.connectionId },
      );
      if (result.status === 'done')
        await recordSyncSucceeded(services.db, data.connectionId).catch((e: unknown) => logger.error({ err: e }, 'sync.recovered webhook not recorded'));
      return result;
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof RateLimitedRunError) {
        const n = data.rateLimited ?? 0;
        return delay(err.waitMs > 0 ? err.waitMs : rateLimitBackoffMs(n), { rateLimited: n + 1 });
      }
      if (err instanceof RunInterruptedError) return delay(200);
      if (err instanceof PermanentRunError && err.code !== 'reauth_required') await importFailed(data.connectionId, err.code);
      if (err instanceof ReauthRequiredError || err instanceof PermanentRunError) throw new UnrecoverableError(err.message);
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await importFailed(data.connectionId, 'sync_retries_exhausted');
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
