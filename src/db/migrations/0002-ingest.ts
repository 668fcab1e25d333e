import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Indexes for the ingest API and the user's case list. Assigned cases are found with
 * `assignees @> '["user@firm.example"]'`, which a GIN index on the jsonb list answers without a scan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE INDEX cases_assignees ON cases USING gin (assignees jsonb_path_ops);
    CREATE INDEX api_keys_organization ON api_keys (organization_id);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP INDEX api_keys_organization;\nDROP INDEX cases_assignees;');
}
