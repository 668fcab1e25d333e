import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCliStores } from '../../src/cli/stores.ts';
import { loadConfig } from '../../src/config/load.ts';
import { type Db, openDatabase } from '../../src/db/database.ts';

const SLOW = 300_000;

const sharedBuffers = async (db: Db) => (await sql<{ shared_buffers: string }>`SHOW shared_buffers`.execute(db)).rows[0]?.shared_buffers;

/**
 * The CLI starts its embedded PostgreSQL with a small buffer pool (a short-lived process never fills
 * the default 128 MB); the setting is for that start only, so the service opening the same data
 * directory afterwards runs with PostgreSQL's default.
 */
describe('PGlite start settings of the CLI', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-cli-pglite-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(
    'the CLI opens PGlite with shared_buffers 16MB; the same directory opened without options has the default 128MB',
    async () => {
      const config = loadConfig({ DATABASE_URL: `pglite://${path.join(dir, 'db')}`, DATA_DIR: dir, REDIS_URL: 'redis://127.0.0.1:1' });
      const stores = await openCliStores(config);
      try {
        expect(stores.applied.length).toBeGreaterThan(0);
        expect(await sharedBuffers(stores.db)).toBe('16MB');
        await stores.db
          .insertInto('organizations')
          .values({ name: 'Small Pool LLP', settings: JSON.stringify({}) })
          .execute();
      } finally {
        await stores.close();
      }
      const service = await openDatabase(config.database);
      try {
        expect(await sharedBuffers(service.db)).toBe('128MB');
        expect(await service.db.selectFrom('organizations').select('name').execute()).toEqual([{ name: 'Small Pool LLP' }]);
      } finally {
        await service.close();
      }
      // And again from the CLI: nothing of the service's start stayed either.
      const again = await openCliStores(config);
      try {
        expect(again.applied).toEqual([]);
        expect(await sharedBuffers(again.db)).toBe('16MB');
      } finally {
        await again.close();
      }
    },
    SLOW,
  );
});
