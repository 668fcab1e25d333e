import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Sign-in links: how a new firm's first administrator (or any user an operator invites from the
 * command line) links a sign-in method to their user without an admin session. The token is kept
 * only as its SHA-256; a link works once, until it expires, for one user of one organization and
 * only for a sign-in whose verified e-mail is the link's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE sign_in_links (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      -- Lower-cased; the sign-in's verified e-mail must equal it.
      email text NOT NULL,
      token_hash text NOT NULL UNIQUE,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      used_by_identity_id uuid REFERENCES identities(id) ON DELETE SET NULL,
      CHECK (expires_at > created_at)
    );
    CREATE INDEX sign_in_links_user ON sign_in_links (user_id);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE sign_in_links;');
}
