import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createApp } from '../../src/api/app.ts';
import type { App } from '../../src/api/env.ts';
import { type Config, loadConfig } from '../../src/config/load.ts';
import { composeServices } from '../../src/main.ts';
import type { Logger } from '../../src/observability/logger.ts';
import type { Services } from '../../src/services.ts';

/**
 * Real services for one test file: PGlite in memory by default, or a fresh schema on the PostgreSQL
 * at TEST_DATABASE_URL; the shared Redis (REDIS_URL or 127.0.0.1:6379) under a random key prefix.
 * `cleanup()` drops the schema, deletes the prefix's keys and the temporary data directory.
 */
export interface TestServices {
  services: Services;
  config: Config;
  app: App;
  cleanup(): Promise<void>;
}

export async function createTestServices(env: Record<string, string> = {}, options: { logger?: Logger } = {}): Promise<TestServices> {
  const isolated = await createIsolatedServices({
    logger: options.logger,
    pgUrl: process.env.TEST_DATABASE_URL,
    tag: 't',
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      PUBLIC_BASE_URL: 'http://localhost:3000',
      ...env,
    },
  });
  return { ...isolated, app: createApp(isolated.services) };
}

/**
 * Services that share nothing with any other instance on the same Redis and PostgreSQL: a random
 * Redis key prefix, a fresh schema on `pgUrl` (embedded PGlite in memory without one), a temporary
 * data directory. `cleanup()` deletes the prefix's keys (BullMQ's too), drops the schema and removes
 * the directory. Used by the tests and the benchmarks.
 */
export async function createIsolatedServices(params: {
  pgUrl: string | undefined;
  /** Names the schema (`<tag>_…`), the key prefix and the directory, to tell leftovers apart. */
  tag: string;
  /** Configuration variables; REDIS_PREFIX, DATA_DIR and DATABASE_URL are set here. */
  env: Record<string, string | undefined>;
  /** A logger of the caller's (default: one at the configured LOG_LEVEL). */
  logger?: Logger;
  /**
   * Without `pgUrl`: PGlite in memory (default), or on disk in the temporary data directory as an
   * embedded deployment runs it (`DATA_DIR/pglite`, its files not in the process's memory).
   */
  embedded?: 'memory' | 'disk';
}): Promise<{ services: Services; config: Config; cleanup(): Promise<void> }> {
  const { pgUrl, tag } = params;
  const prefix = `cb${tag}-${randomUUID().slice(0, 8)}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `casebridge-${tag}-`));
  const schema = `${tag}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  if (pgUrl) await sqlOn(pgUrl, `CREATE SCHEMA ${schema}`);
  // Tests and benchmarks drive the API far faster than a platform's backend would: the per-key rate
  // limit is out of the way unless a test sets it (test/api/api-key-scopes.test.ts does).
  const config = loadConfig({
    API_RATE_LIMIT_REQUESTS: '1000000',
    ...params.env,
    REDIS_PREFIX: prefix,
    DATA_DIR: dataDir,
    DATABASE_URL: pgUrl ?? (params.embedded === 'disk' ? `pglite://${path.join(dataDir, 'pglite')}` : 'pglite://memory'),
  });
  if (pgUrl) config.database = { kind: 'postgres', url: pgUrl, schema };
  const services = await composeServices(config, { logger: params.logger });
  return {
    services,
    config,
    async cleanup() {
      await services.close();
      // After closing: BullMQ's queues may still write their meta keys while they close.
      const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        const all = [...(await scanKeys(redis, `${prefix}:*`)), ...(await scanKeys(redis, `bull:${prefix}:*`))];
        for (let i = 0; i < all.length; i += 500) await redis.del(...all.slice(i, i + 500));
      } finally {
        redis.disconnect();
      }
      if (pgUrl) await sqlOn(pgUrl, `DROP SCHEMA ${schema} CASCADE`);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function sqlOn(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}
