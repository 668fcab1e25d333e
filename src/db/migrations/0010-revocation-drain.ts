import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * What a revocation's drain found, for its receipt: the gate calls that were already under way when
 * the revocation was decided and that it waited for, and the calls still running when it gave up
 * (normally 0; more means `effectiveAt` could not be confirmed, and the receipt says so).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE revocations ADD COLUMN calls_drained integer NOT NULL DEFAULT 0;
    ALTER TABLE revocations ADD COLUMN calls_still_running integer NOT NULL DEFAULT 0;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE revocations DROP COLUMN calls_drained;
    ALTER TABLE revocations DROP COLUMN calls_still_running;
  `,
  );
}
