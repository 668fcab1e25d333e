import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Issue 16, the rest of iManage:
 * - `cases.practice_area`: the practice area a case belongs to (ingested with the case), so a
 *   consent's case scope can be "the cases of these practice areas"; compared case-insensitively.
 * - `imanage_firm_clients`: the OAuth client a firm's iManage administrator registered for
 *   Casebridge, one per organization. The secret is sealed with the token vault's keyring
 *   (AES-256-GCM, the organization id as additional data); it never leaves the server.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE cases ADD COLUMN practice_area text;
    CREATE INDEX cases_practice_area_idx ON cases (organization_id, lower(practice_area)) WHERE practice_area IS NOT NULL;
    CREATE TABLE imanage_firm_clients (
      organization_id uuid PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
      client_id text NOT NULL,
      secret_key_id text NOT NULL,
      secret_ciphertext text NOT NULL,
      updated_by uuid REFERENCES users(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE imanage_firm_clients; DROP INDEX cases_practice_area_idx; ALTER TABLE cases DROP COLUMN practice_area;');
}
