import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Where a pulled connection's import resumes: the provider's cursor (a delta link, a sync token) as
 * of the last page that was applied. `kind` says whether it continues an import in progress
 * (`page`) or waits for the next changes (`delta`). Deleted with the connection, and cleared by
 * revocation like sync_state.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE connector_cursors (
      connection_id uuid PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
      cursor text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('page', 'delta')),
      pages_applied integer NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE connector_cursors;');
}
