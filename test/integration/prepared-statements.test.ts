import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, PREPARED } from '../../src/db/database.ts';
import { WORKER_PG_URL, workerDatabaseReachable } from '../sync/support/worker-processes.ts';

/**
 * Statements marked {@link PREPARED} (the contacts apply: one statement per page, the same text every
 * time) are named prepared statements on PostgreSQL: parsed and planned once per connection. Other
 * statements stay unnamed; a marked statement answers the same as an unmarked one, its parameters
 * bound on every run; the number of names is bounded (later texts are sent unnamed, never refused).
 */

const pgReachable = await workerDatabaseReachable();

describe.skipIf(!pgReachable)('PostgreSQL: statements marked PREPARED', () => {
  const opened = openDatabase({ kind: 'postgres', url: WORKER_PG_URL });
  afterAll(async () => {
    await (await opened).close();
  });

  it('are prepared once per connection and bound with each run’s parameters; unmarked ones are not prepared', async () => {
    const { db } = await opened;
    await db.connection().execute(async (conn) => {
      const marked = (n: number) => sql<{ twice: number }>`SELECT ${n}::int * 2 AS twice ${sql.raw(PREPARED)}`.execute(conn);
      expect((await marked(2)).rows).toEqual([{ twice: 4 }]);
      expect((await marked(21)).rows).toEqual([{ twice: 42 }]);
      await sql`SELECT ${1}::int AS unmarked`.execute(conn);
      const { rows } = await sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements`.execute(conn);
      expect(rows.filter((r) => r.statement.includes('twice'))).toHaveLength(1);
      expect(rows.find((r) => r.statement.includes('twice'))!.name).toMatch(/^cb_[0-9a-f]+$/);
      expect(rows.some((r) => r.statement.includes('unmarked'))).toBe(false);
    });
  });

  it('beyond the bounded set of texts, are sent unnamed and still answer', async () => {
    const { db } = await opened;
    await db.connection().execute(async (conn) => {
      for (let i = 0; i < 40; i++) {
        const { rows } = await sql<{ n: number }>`SELECT ${i}::int AS n, ${sql.lit(i)}::int AS variant ${sql.raw(PREPARED)}`.execute(conn);
        expect(rows[0]!.n).toBe(i);
      }
      const { rows } = await sql<{ n: string | number }>`SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE '%variant%'`.execute(conn);
      expect(Number(rows[0]!.n)).toBeLessThanOrEqual(32);
    });
  });
});

describe('PGlite: statements marked PREPARED', () => {
  it('run as plain statements (the mark is a comment)', async () => {
    const { db, close } = await openDatabase({ kind: 'pglite', dataDir: null });
    try {
      expect((await sql<{ twice: number }>`SELECT ${4}::int * 2 AS twice ${sql.raw(PREPARED)}`.execute(db)).rows).toEqual([{ twice: 8 }]);
    } finally {
      await close();
    }
  }, 120_000);
});
