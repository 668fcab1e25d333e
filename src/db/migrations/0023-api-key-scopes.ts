import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * API key scopes (`ingest`, `connections:read`, `connections:manage`, `transfers:read`, `admin`).
 * Keys made before scopes existed keep exactly what they could do: ingest, and start a connect
 * session for a user (`connections:manage`). A new key names its scopes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT ARRAY['ingest', 'connections:manage']::text[];
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
      CHECK (scopes <@ ARRAY['ingest', 'connections:read', 'connections:manage', 'transfers:read', 'admin']::text[] AND cardinality(scopes) > 0);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'ALTER TABLE api_keys DROP COLUMN scopes;');
}
