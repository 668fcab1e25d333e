import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Where an iManage connection files each case: the matter workspace found (or created) by the case's
 * client and matter numbers, and the folder inside it. Remembered so a run with nothing to upload
 * asks the server nothing, and a new document of a known case goes straight to its folder. Deleted
 * with the connection; cleared by the connector's revocation step.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE imanage_case_folders (
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      case_id uuid NOT NULL,
      client_number text NOT NULL,
      matter_number text NOT NULL,
      workspace_id text NOT NULL,
      folder_id text NOT NULL,
      workspace_created boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (connection_id, case_id)
    );
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE imanage_case_folders;');
}
