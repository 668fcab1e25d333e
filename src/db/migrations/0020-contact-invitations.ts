import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Invitations of imported contacts (issue 15, invite half).
 *
 * `contact_invitations`: one row per invitation a user sent (or tried to send) to an imported
 * contact's address. Only the SHA-256 of the single-use token is kept (the token travels in the
 * e-mail only). `status`: `pending` (being sent) → `sent` → `accepted`, or `failed` / `blocked`
 * (never left: the gate refused it, or the mail server did not take it). The per-user daily limit
 * and "no re-invite within N days" count the `pending`, `sent` and `accepted` rows. The contact
 * and the connection may go (revocation, a provider deletion): the invitation stays as the record of
 * what was sent, with its address.
 *
 * `invitation_suppressions`: per organization, the addresses that opted out. The outbound gate
 * refuses (and logs `blocked`, reason `recipient_suppressed`) any invitation to them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE contact_invitations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      inviter_user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      connection_id uuid REFERENCES connections(id) ON DELETE SET NULL,
      contact_id uuid REFERENCES imported_contacts(id) ON DELETE SET NULL,
      email text NOT NULL,
      channel text NOT NULL CHECK (channel IN ('smtp', 'mailbox')),
      status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'blocked', 'accepted')),
      reason text,
      token_hash text NOT NULL UNIQUE,
      transfer_id uuid,
      expires_at timestamptz NOT NULL,
      sent_at timestamptz,
      accepted_at timestamptz,
      accepted_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX contact_invitations_inviter ON contact_invitations (inviter_user_id, created_at);
    CREATE INDEX contact_invitations_address ON contact_invitations (organization_id, email, created_at);
    CREATE TABLE invitation_suppressions (
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      email text NOT NULL,
      invitation_id uuid REFERENCES contact_invitations(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, email)
    );
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE invitation_suppressions; DROP TABLE contact_invitations;');
}
