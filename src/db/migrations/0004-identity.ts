import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Sign-in: identities (a user's accounts at external authenticators), what each login received,
 * per-organization SAML identity provider settings, and the security event log.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    -- One account at one authenticator, namespaced by (provider, issuer, subject): Google's
    -- (google, https://accounts.google.com, sub) or SAML's (saml, IdP entity id, NameID).
    CREATE TABLE identities (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      provider text NOT NULL CHECK (provider IN ('google', 'saml')),
      issuer text NOT NULL,
      subject text NOT NULL,
      -- The e-mail the authenticator vouched for at the last login.
      email text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_login_at timestamptz,
      UNIQUE (provider, issuer, subject)
    );
    CREATE INDEX identities_user ON identities (user_id);

    -- What each successful login received from the authenticator: the names of every claim or
    -- attribute sent, and the only values kept (e-mail, name, picture URL).
    CREATE TABLE login_records (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      identity_id uuid NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
      provider text NOT NULL,
      received_attributes jsonb NOT NULL,
      kept jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_records_user ON login_records (user_id, created_at);

    -- The organization's SAML identity provider (OneLogin or another).
    CREATE TABLE saml_configs (
      organization_id uuid PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
      entity_id text NOT NULL,
      sso_url text NOT NULL,
      slo_url text,
      -- PEM certificates; several while the IdP rotates its key.
      certificates jsonb NOT NULL,
      attribute_mapping jsonb NOT NULL,
      allow_idp_initiated boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    -- Append-only security events: logins (with the failure reason), logouts, sessions ended by an
    -- administrator, role and status changes. organization_id is null when a failed login could
    -- not be tied to an organization.
    CREATE TABLE security_events (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid REFERENCES organizations(id) ON DELETE CASCADE,
      user_id uuid REFERENCES users(id) ON DELETE SET NULL,
      actor_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
      kind text NOT NULL,
      outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
      reason text,
      method text,
      ip text,
      user_agent text,
      details jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX security_events_org_time ON security_events (organization_id, created_at DESC);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE security_events, saml_configs, login_records, identities;');
}
