import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createApp } from '../../src/api/app.ts';
import type { App } from '../../src/api/env.ts';
import { type Config, loadConfig } from '../../src/config/load.ts';
import { createServices, type Services } from '../../src/services.ts';

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

export async function createTestServices(env: Record<string, string> = {}): Promise<TestServices> {
  const prefix = `cbt-${randomUUID().slice(0, 8)}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-test-'));
  const pgUrl = process.env.TEST_DATABASE_URL;
  const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  if (pgUrl) {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.end();
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    DATA_DIR: dataDir,
    DATABASE_URL: pgUrl ?? 'pglite://memory',
    PUBLIC_BASE_URL: 'http://localhost:3000',
    ...env,
  });
  if (pgUrl) config.database = { kind: 'postgres', url: pgUrl, schema };
  const services = await createServices(config);
  const app = createApp(services);
  return {
    services,
    config,
    app,
    async cleanup() {
      const keys = await scanKeys(services, `${prefix}:*`);
      const bullKeys = await scanKeys(services, `bull:${prefix}*`);
      const all = [...keys, ...bullKeys];
      for (let i = 0; i < all.length; i += 500) await services.redis.del(...all.slice(i, i + 500));
      await services.close();
      if (pgUrl) {
        const client = new pg.Client({ connectionString: pgUrl });
        await client.connect();
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
        await client.end();
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function scanKeys(services: Services, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await services.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}
