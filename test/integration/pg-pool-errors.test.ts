import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.ts';
import { WORKER_PG_URL, workerDatabaseReachable } from '../sync/support/worker-processes.ts';

/**
 * A PostgreSQL backend ended under an idle pooled connection (`pg_terminate_backend`, a server
 * restart, a proxy dropping idle sockets) is an `error` event on the pool: the process must carry on
 * and the next query must get a fresh connection. Found by the chaos run: without a listener the
 * event was thrown and every service process died at once.
 */

const pgReachable = await workerDatabaseReachable();
const applicationName = `pool-errors-${process.pid}`;

describe.skipIf(!pgReachable)('PostgreSQL pool: backends terminated under its connections', () => {
  const url = new URL(WORKER_PG_URL);
  url.searchParams.set('application_name', applicationName);
  const opened = openDatabase({ kind: 'postgres', url: url.toString() });
  afterAll(async () => {
    await (await opened).close();
  });

  it('survives the termination of every idle backend and serves the next queries on fresh connections', async () => {
    const { db } = await opened;
    const uncaught: string[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err instanceof Error ? err.message : String(err));
    process.on('uncaughtException', onUncaught);
    try {
      // Three connections in the pool, idle once the queries are done.
      const before = await Promise.all([1, 2, 3].map(() => sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.05)`.execute(db)));
      const admin = new pg.Client({ connectionString: WORKER_PG_URL });
      await admin.connect();
      const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]);
      await admin.end();
      expect(killed.rowCount).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 300)); // the pool's idle clients see their sockets close
      const after = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
      expect(before.map((r) => r.rows[0]!.pid)).not.toContain(after.rows[0]!.pid);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

  it('survives the termination of a backend held by a transaction between two statements: the transaction fails, the process carries on', async () => {
    const { db } = await opened;
    const uncaught: string[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err instanceof Error ? err.message : String(err));
    process.on('uncaughtException', onUncaught);
    try {
      let terminated!: () => void;
      const gate = new Promise<void>((r) => {
        terminated = r;
      });
      let held!: (pid: number) => void;
      const pid = new Promise<number>((r) => {
        held = r;
      });
      const transaction = db.transaction().execute(async (tx) => {
        held((await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx)).rows[0]!.pid);
        await gate; // checked out, no statement running: the termination reaches the client as an event
        await sql`select 1`.execute(tx);
      });
      const outcome = transaction.then(
        () => 'committed',
        () => 'failed',
      );
      const admin = new pg.Client({ connectionString: WORKER_PG_URL });
      await admin.connect();
      await admin.query('select pg_terminate_backend($1)', [await pid]);
      await admin.end();
      await new Promise((r) => setTimeout(r, 300));
      terminated();
      expect(await outcome).toBe('failed');
      const after = await sql<{ one: number }>`select 1 as one`.execute(db);
      expect(after.rows[0]!.one).toBe(1);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});
