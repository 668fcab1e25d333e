import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Contacts a user imported from an address book (a pulled connection), kept apart from the case
 * contacts the platform ingests. One row per person per connection (`person_key`: the first e-mail
 * address, lower-cased, else the provider id), so the same person in two folders, two runs or a
 * replayed delta entry stays one contact; `imported_contact_sources` links each provider item to
 * it. Only the minimised fields are columns: name, e-mail addresses, company, job title, phones.
 * `matched_user_id` marks a member of the organization (no invitation needed); `invited_at` keeps an
 * invited contact when its provider item is deleted. Deleted with the connection.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE imported_contacts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      person_key text NOT NULL,
      display_name text NOT NULL,
      emails jsonb NOT NULL DEFAULT '[]',
      company text,
      job_title text,
      phones jsonb NOT NULL DEFAULT '[]',
      matched_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
      invited_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (connection_id, person_key)
    );
    CREATE INDEX imported_contacts_user ON imported_contacts (organization_id, user_id);
    CREATE TABLE imported_contact_sources (
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      remote_id text NOT NULL,
      contact_id uuid NOT NULL REFERENCES imported_contacts(id) ON DELETE CASCADE,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (connection_id, remote_id)
    );
    CREATE INDEX imported_contact_sources_contact ON imported_contact_sources (contact_id);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE imported_contact_sources; DROP TABLE imported_contacts;');
}
