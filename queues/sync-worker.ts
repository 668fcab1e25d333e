import { DelayedError, type Job, UnrecoverableError, type Worker } from 'bullmq';
import { sql } from 'kysely';
import { connectorConfigFor } from '../connectors/config-fragments.ts';
import { connectorFor } from '../connectors/registry.ts';
import type { Connector, ConnectorSync } from '../connectors/types.ts';
import { connectionError, markReauthRequired } from '../src/connections/lifecycle.ts';
import { tryLock } from '../src/connections/redis-lock.ts';
import { connectionTokens } from '../src/connections/token-access.ts';
import { ReauthRequiredError, TokenRefreshError } from '../src/connections/token-refresh.ts';
import { observeSyncLag, syncRunLockBusy } from '../src/observability/metrics.ts';
import { redisKey } from '../src/redis.ts';
import type { Services } from '../src/services.ts';
import { PermanentRunError, RateLimitedRunError, RunInterruptedError, RunLockBusyError, TransientRunError } from '../src/sync/errors.ts';
import { loadSyncConnection, type ReconcileResult, reconcileConnection, type SyncProgress } from '../src/sync/reconcile.ts';
import { recordSyncFailed, recordSyncSucceeded } from '../src/webhooks/connection-events.ts';
import { AccountConcurrencyLimiter } from './concurrency-limit.ts';
import { createConnectionWorker, type RunningQueueWorker } from './connection-worker.ts';
import { FULL_RECONCILE_JOB, QUEUE_NAMES, type SyncJobData, syncJobSchema } from './definitions.ts';
import { ProviderRateLimiter, rateBudgets } from './rate-limit.ts';

/**
 * The `sync` worker: runs the reconcile engine for one connection per job and turns its run-level
 * outcomes into queue actions:
 * - rate limited (provider 429/403 quota, or our own limiter) → `moveToDelayed` by Retry-After or
 *   exponential backoff with jitter + DelayedError: the job waits in Redis, the worker takes others;
 * - transient → thrown: BullMQ retries with exponential backoff (SYNC_JOB_OPTIONS);
 * - re-authorization needed or permanent → UnrecoverableError: no retries, the reason is on the
 *   connection in plain words;
 * - shutdown → the run stops at a chunk boundary and the job goes back to delayed.
 * A per-connection run lock (Redis, renewed while running) guarantees one run per connection even if
 * a stalled job were handed to a second worker; a killed worker's job is recovered by BullMQ's
 * stalled-job check after SYNC_JOB_LOCK_SECONDS.
 */

export interface SyncWorkerOptions {
  concurrency?: number;
  chunkSize?: number;
  /** Gate concurrency inside one chunk. */
  itemConcurrency?: number;
  maxInlineWaitMs?: number;
}

const jitter = (ms: number) => Math.round(ms * (0.75 + Math.random() * 0.5));
/** Waits at least this long are usage limits, shown to the user with their resume time. */
const USAGE_LIMIT_NOTICE_MS = 10 * 60_000;

/** Backoff for "slow down" answers without Retry-After: 1 s, 2 s, 4 s … capped at 5 min, with jitter. */
export function rateLimitBackoffMs(attempt: number): number {
  return jitter(Math.min(300_000, 1000 * 2 ** Math.min(attempt, 9)));
}

export function createSyncWorker(services: Services, options: SyncWorkerOptions = {}): RunningQueueWorker & { worker: Worker } {
  const { config, logger } = services;
  const lockMs = config.SYNC_JOB_LOCK_SECONDS * 1000;
  const limiters = new Map<string, ProviderRateLimiter>();
  const slotLimiters = new Map<string, AccountConcurrencyLimiter | null>();
  let stopping = false;

  const limiterFor = (connector: Connector): ProviderRateLimiter => {
    let l = limiters.get(connector.manifest.id);
    if (!l) {
      const budgets = rateBudgets({
        declared: connector.manifest.rateBudgets,
        overrides: connectorConfigFor(connector.manifest.id)?.rateBudgetVariables,
        config,
      });
      l = new ProviderRateLimiter({ redis: services.redis, prefix: config.REDIS_PREFIX, platform: connector.manifest.id, ...budgets });
      limiters.set(connector.manifest.id, l);
    }
    return l;
  };

  /** The manifest's per-account `concurrency`, shared by every worker (null when it declares none). */
  const slotsFor = (connector: Connector): AccountConcurrencyLimiter | null => {
    if (!slotLimiters.has(connector.manifest.id)) {
      const limit = connector.manifest.rateBudgets?.perAccount?.concurrency;
      slotLimiters.set(
        connector.manifest.id,
        limit ? new AccountConcurrencyLimiter({ redis: services.redis, prefix: config.REDIS_PREFIX, platform: connector.manifest.id, limit }) : null,
      );
    }
    return slotLimiters.get(connector.manifest.id) ?? null;
  };

  const plainError = async (connectionId: string, code: string, message: string) => {
    await services.db
      .updateTable('connections')
      .set({ last_error: JSON.stringify(connectionError(code, message)) })
      .where('id', '=', connectionId)
      .execute();
  };

  // `sync.failed` once per failure episode, `sync.recovered` after it (src/webhooks/); never fails the run.
  const syncFailed = (connectionId: string, code: string) =>
    recordSyncFailed(services.db, { connectionId, code }).catch((e: unknown) => logger.error({ err: e, connectionId }, 'sync.failed webhook not recorded'));
  const syncSucceeded = (connectionId: string) =>
    recordSyncSucceeded(services.db, connectionId).catch((e: unknown) => logger.error({ err: e, connectionId }, 'sync.recovered webhook not recorded'));

  const processor = async (job: Job, token?: string): Promise<ReconcileResult | { enqueued: string }> => {
    if (job.name === FULL_RECONCILE_JOB) {
      const id = String((job.data as { connectionId?: unknown }).connectionId ?? '');
      await services.queues.enqueueSync(id, 'full');
      return { enqueued: id };
    }
    const data: SyncJobData = syncJobSchema.parse(job.data);

    const delay = async (ms: number, patch: Partial<SyncJobData> = {}) => {
      if (Object.keys(patch).length) await job.updateData({ ...data, ...patch });
      const at = Date.now() + Math.max(50, ms);
      if (ms >= 1000) {
        // Shown by GET /v1/connections/:id while the run waits.
        await services.db
          .updateTable('connections')
          .set({
            sync_progress: sql`(case when jsonb_typeof(sync_progress) = 'object' then sync_progress else '{}'::jsonb end) || ${JSON.stringify({ resumesAt: new Date(at).toISOString() })}::jsonb`,
          })
          .where('id', '=', data.connectionId)
          .execute();
      }
      await job.moveToDelayed(at, token);
      throw new DelayedError();
    };

    /** The connection's run is under way in another worker: counted, and the job waits its turn. */
    const lockBusy = () => {
      syncRunLockBusy.inc();
      return delay(jitter(1000));
    };
    const lock = await tryLock(services.redis, redisKey(config.REDIS_PREFIX, 'sync-run', data.connectionId), lockMs);
    if (!lock) return lockBusy();
    const renew = setInterval(
      () => {
        lock.extend(lockMs).catch(() => false);
      },
      Math.max(500, Math.floor(lockMs / 3)),
    );
    /** The platform's name for messages (known once the connection is read). */
    let displayName = 'The provider';
    try {
      // Read under the run lock, once: it picks the connector and is the run's connection (its settings
      // are those the previous run left, e.g. the calendar it provisioned).
      const row = await loadSyncConnection(services, data.connectionId);
      if (!row) return { status: 'skipped', reason: 'connection_missing' };
      if (row.status !== 'active') return { status: 'skipped', reason: `connection_${row.status}` };
      const connector = connectorFor(row.platform);
      if (!connector?.sync || !connector.oauth) return { status: 'skipped', reason: 'platform_without_sync' };
      displayName = connector.manifest.displayName;
      const oauth = connector.oauth;
      const onReauthRequired = async (id: string, message: string) => {
        await markReauthRequired(services, id, message);
      };
      const result = await reconcileConnection(
        {
          services,
          connector: connector as Connector & { sync: ConnectorSync },
          tokens: connectionTokens(services, oauth, connector.manifest.id),
          limiter: limiterFor(connector),
          slots: slotsFor(connector) ?? undefined,
          actor: { kind: 'job', jobId: String(job.id), queue: QUEUE_NAMES.sync },
          onReauthRequired,
          onProgress: (p: SyncProgress) => job.updateProgress({ ...p }),
          shouldStop: () => stopping,
          chunkSize: options.chunkSize,
          concurrency: options.itemConcurrency,
          maxInlineWaitMs: options.maxInlineWaitMs,
        },
        { connectionId: data.connectionId, reason: data.reason, jobId: String(job.id), connection: row },
      );
      // Sync lag: from the change (its enqueue right after the ingest committed) to the end of the writes it caused.
      if (result.status === 'done' && data.reason === 'change' && data.origin) {
        const { created, updated, deleted } = result.progress.done;
        if (created + updated + deleted > 0) {
          observeSyncLag({ platform: row.platform, connectionId: data.connectionId, seconds: (Date.now() - data.origin.enqueuedAt) / 1000 });
        }
      }
      if (result.status === 'done') await syncSucceeded(data.connectionId);
      return result;
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof RateLimitedRunError) {
        const n = data.rateLimited ?? 0;
        // A wait of many minutes is a usage limit, not a busy minute: never earlier than the pause ends
        // (the account's pause in Redis would only send the job back), at most 5% later.
        const long = err.waitMs >= USAGE_LIMIT_NOTICE_MS;
        const wait = long ? Math.round(err.waitMs * (1 + Math.random() * 0.05)) : err.waitMs > 0 ? jitter(err.waitMs) : rateLimitBackoffMs(n);
        logger.info({ connectionId: data.connectionId, waitMs: wait, source: err.source }, 'sync rate limited; job delayed');
        // Tell the user what and until when.
        if (long) {
          const minutes = Math.round(err.waitMs / 60_000);
          await plainError(
            data.connectionId,
            'provider_usage_limit',
            `${displayName} reported a usage limit for this account; syncing pauses for ${minutes >= 60 ? `${Math.round(minutes / 6) / 10} h` : `${minutes} min`} and resumes around ${new Date(Date.now() + err.waitMs).toISOString()} (the pause doubles, up to 24 h, while the limit persists).`,
          );
        }
        return delay(wait, { rateLimited: n + 1 });
      }
      if (err instanceof RunInterruptedError) return delay(200);
      if (err instanceof RunLockBusyError) return lockBusy();
      if (err instanceof ReauthRequiredError || (err instanceof PermanentRunError && err.code === 'reauth_required')) {
        throw new UnrecoverableError('the connection needs re-authorization');
      }
      if (err instanceof PermanentRunError) {
        await plainError(data.connectionId, err.code, err.message);
        await syncFailed(data.connectionId, err.code);
        throw new UnrecoverableError(err.message);
      }
      if (err instanceof TransientRunError || err instanceof TokenRefreshError) {
        const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (last) await syncFailed(data.connectionId, 'sync_retries_exhausted');
        await plainError(
          data.connectionId,
          'sync_retrying',
          last
            ? `Syncing failed repeatedly (${err.message}). It resumes with the next change or the periodic full sync.`
            : `Syncing hit a temporary problem (${err.message}); it is retried automatically.`,
        );
      }
      throw err;
    } finally {
      clearInterval(renew);
      await lock.release().catch(() => false);
    }
  };

  return createConnectionWorker({
    queue: QUEUE_NAMES.sync,
    processor,
    config,
    logger,
    lockMs,
    concurrency: options.concurrency,
    // Running jobs stop at their next boundary (chunk or page) and return to delayed.
    onClose: () => {
      stopping = true;
    },
    // The abandoned runs' per-account slots go back now: the process exits without waiting for
    // their calls, and the worker taking the jobs over must not wait for leases nobody renews.
    onHandBack: async () => {
      await Promise.all([...slotLimiters.values()].map((l) => l?.releaseAll()));
    },
  });
}
