import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Drops three foreign keys of the imported-contacts store (0017) that the connection already
 * implies, each of which cost a row-by-row check on every contact an import writes (the checks were
 * about a third of the database time of a contacts page):
 * - `imported_contacts.organization_id` and `.user_id` are the connection's (the apply statement
 *   copies them from it); deleting an organization or a user still deletes the contacts, through
 *   `connections` (ON DELETE CASCADE on both) and `imported_contacts.connection_id` (CASCADE);
 * - `imported_contact_sources.connection_id` is its contact's connection; a link still goes with its
 *   contact (`contact_id`, CASCADE), and so with the connection.
 * Kept: `imported_contacts.connection_id` (the chain every deletion follows), `matched_user_id`
 * (SET NULL when the member goes) and `imported_contact_sources.contact_id`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE imported_contacts
      DROP CONSTRAINT imported_contacts_organization_id_fkey,
      DROP CONSTRAINT imported_contacts_user_id_fkey;
    ALTER TABLE imported_contact_sources DROP CONSTRAINT imported_contact_sources_connection_id_fkey;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE imported_contacts
      ADD CONSTRAINT imported_contacts_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE,
      ADD CONSTRAINT imported_contacts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
    ALTER TABLE imported_contact_sources
      ADD CONSTRAINT imported_contact_sources_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES connections(id) ON DELETE CASCADE;
  `,
  );
}
