import { type CasebridgeQueues, createQueues } from '../queues/definitions.ts';
import { SessionStore } from './auth/session-store.ts';
import { type BlobStore, blobStoreFor } from './blobs/blob-store.ts';
import { type ChangeFeed, InProcessChangeFeed } from './cases/change-feed.ts';
import type { Config } from './config/load.ts';
import type { Db } from './db/database.ts';
import { type Database, openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { registerStateMetrics } from './observability/state-metrics.ts';
import type { RedisClient as Redis } from './redis.ts';
import { connectRedis } from './redis.ts';
import { createOutboundGate } from './transfers/gate.ts';
import type { OutboundGate } from './transfers/types.ts';

/**
 * The long-lived handles one process shares: configuration, database, Redis, logger, blob store and
 * the change feed. Created once at start (or once per test file) and passed to routes and workers.
 */
export interface Services {
  config: Config;
  db: Db;
  dbKind: Database['kind'];
  redis: Redis;
  logger: Logger;
  blobs: BlobStore;
  changeFeed: ChangeFeed;
  sessions: SessionStore;
  /** The outbound gate: every transfer to or from a third party goes through it (src/transfers/gate.ts). */
  gate: OutboundGate;
  /** BullMQ queues (sync, import, revoke, maintenance) and the operations on them (queues/definitions.ts). */
  queues: CasebridgeQueues;
  /** Closes everything this object opened, in reverse order. */
  close(): Promise<void>;
}

export interface CreateServicesOptions {
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  logger?: Logger;
}

export async function createServices(config: Config, options: CreateServicesOptions = {}): Promise<Services> {
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL });
  const redis = await connectRedis(config.REDIS_URL, { clusterNodes: config.REDIS_CLUSTER_NODES });
  let database: Database;
  try {
    database = await openDatabase(config.database);
    if (options.migrate !== false) {
      const applied = await migrateToLatest(database.db, { schema: database.schema });
      if (applied.length) logger.info({ applied }, 'database migrations applied');
    }
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const changeFeed = new InProcessChangeFeed((err, change) =>
    logger.error({ err, organizationId: change.organizationId }, 'change listener failed; periodic reconcile will repair'),
  );
  const closers: Array<() => Promise<unknown>> = [() => redis.quit().catch(() => redis.disconnect()), () => database.close()];
  // Queues share the Redis connection. Routing committed changes to them is wired by the composition
  // root (src/main.ts `composeServices`), so nothing here imports the connectors.
  const queues = createQueues({ redis, config, logger });
  closers.push(() => queues.close());
  // Queue depth, open unknown outcomes and checkpoint age are read from here when /metrics is scraped.
  const unregisterMetrics = registerStateMetrics({ db: database.db, queues: [queues.sync, queues.import, queues.revoke, queues.maintenance], logger });
  closers.push(async () => unregisterMetrics());
  const gate = createOutboundGate({ db: database.db, redis, redisPrefix: config.REDIS_PREFIX, logger });
  // First to run on close: rows queued by the gate (a 304's `not_modified`) and lease releases land
  // before the database and Redis connections go.
  closers.push(() => gate.settled());
  return {
    config,
    db: database.db,
    dbKind: database.kind,
    redis,
    logger,
    blobs: blobStoreFor(config),
    changeFeed,
    sessions: new SessionStore(redis, config.REDIS_PREFIX, {
      idleSeconds: config.SESSION_IDLE_MINUTES * 60,
      absoluteSeconds: config.SESSION_ABSOLUTE_HOURS * 3600,
    }),
    gate,
    queues,
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
}
