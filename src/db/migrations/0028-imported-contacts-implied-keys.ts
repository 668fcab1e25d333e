import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Fewer foreign-key checks per imported contact (0017 had four on `imported_contacts` and two on
 * `imported_contact_sources`, row by row: about a third of the database time of a contacts page),
 * without giving up what they guaranteed:
 * - `imported_contacts` gets ONE composite key, `(connection_id, organization_id, user_id)` →
 *   `connections (id, organization_id, user_id)` ON DELETE CASCADE, in place of the three keys to
 *   `connections`, `organizations` and `users`: a contact's organization and user are its
 *   connection's (checked, not just copied), and deleting a connection, a user or an organization
 *   still deletes the contacts (connections cascade from both);
 * - `imported_contact_sources.connection_id` loses its key: a link goes with its contact
 *   (`contact_id`, CASCADE), and so with the connection.
 * Kept: `matched_user_id` (SET NULL when the member goes) and `imported_contact_sources.contact_id`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE connections ADD CONSTRAINT connections_id_organization_user_key UNIQUE (id, organization_id, user_id);
    ALTER TABLE imported_contacts
      DROP CONSTRAINT imported_contacts_connection_id_fkey,
      DROP CONSTRAINT imported_contacts_organization_id_fkey,
      DROP CONSTRAINT imported_contacts_user_id_fkey,
      ADD CONSTRAINT imported_contacts_connection_fkey FOREIGN KEY (connection_id, organization_id, user_id)
        REFERENCES connections (id, organization_id, user_id) ON DELETE CASCADE;
    ALTER TABLE imported_contact_sources DROP CONSTRAINT imported_contact_sources_connection_id_fkey;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE imported_contacts
      DROP CONSTRAINT imported_contacts_connection_fkey,
      ADD CONSTRAINT imported_contacts_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES connections(id) ON DELETE CASCADE,
      ADD CONSTRAINT imported_contacts_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE,
      ADD CONSTRAINT imported_contacts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
    ALTER TABLE connections DROP CONSTRAINT connections_id_organization_user_key;
    ALTER TABLE imported_contact_sources
      ADD CONSTRAINT imported_contact_sources_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES connections(id) ON DELETE CASCADE;
  `,
  );
}
