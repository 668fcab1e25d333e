import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

const url = process.env.TEST_DATABASE_URL;

/**
 * Migrating one schema while other schemas of the same server are created and dropped (parallel
 * test files, benchmarks): Kysely's introspection of every schema used to fail the migration with
 * "schema … does not exist" now and then; the Migrator now only looks at its own schema.
 */
describe.skipIf(!url)('migrations beside schemas that come and go', () => {
  it('migrate fresh schemas while two clients create and drop others without pause', async () => {
    let stop = false;
    const churn = async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      while (!stop) {
        const s = `churn_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
        await c.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.a (id serial PRIMARY KEY, x text)`);
        await c.query(`DROP SCHEMA ${s} CASCADE`);
      }
      await c.end();
    };
    const churners = [churn(), churn()];
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const failures: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const schema = `mig_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
        await admin.query(`CREATE SCHEMA ${schema}`);
        const db = await openDatabase({ kind: 'postgres', url: url!, schema });
        try {
          expect((await migrateToLatest(db.db, { schema })).length).toBeGreaterThan(5);
        } catch (err) {
          failures.push((err as Error).message);
        } finally {
          await db.close();
          await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        }
      }
    } finally {
      stop = true;
      await Promise.all(churners);
      await admin.end();
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
