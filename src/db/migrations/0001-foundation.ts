import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Organizations, users, API keys and the case data pushed in by the case-management app, plus the
 * connection and consent tables every connector shares. Case data rows carry a version, updated_at
 * and a tombstone (deleted_at) so that sync can propagate deletes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE organizations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      settings jsonb NOT NULL DEFAULT '{}'::jsonb,
      -- Bumped on every committed ingest; caches of derived output (ICS feeds) key on it.
      data_version bigint NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      email text NOT NULL,
      name text,
      picture_url text,
      role text NOT NULL CHECK (role IN ('member', 'admin')),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_org_email ON users (organization_id, lower(email));

    CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      name text NOT NULL,
      -- First characters of the key, shown in listings so a key can be recognised without being stored.
      prefix text NOT NULL,
      key_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );

    CREATE TABLE cases (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      external_id text NOT NULL,
      number text NOT NULL,
      title text NOT NULL,
      client_name text,
      status text NOT NULL DEFAULT 'open',
      -- Lower-cased e-mail addresses of the users assigned to the case (users are matched by e-mail).
      assignees jsonb NOT NULL DEFAULT '[]'::jsonb,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz,
      UNIQUE (organization_id, external_id)
    );

    CREATE TABLE case_events (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      case_id uuid NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
      external_id text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('court_date', 'deadline', 'deposition', 'meeting', 'reminder')),
      title text NOT NULL,
      description text,
      location text,
      -- Either a timed event (starts_at/ends_at + IANA time_zone) or an all-day one (start_date/end_date,
      -- end inclusive as the case app shows it; exporters add the exclusive day).
      starts_at timestamptz,
      ends_at timestamptz,
      time_zone text,
      start_date date,
      end_date date,
      participants jsonb NOT NULL DEFAULT '[]'::jsonb,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz,
      UNIQUE (organization_id, external_id),
      CHECK ((starts_at IS NOT NULL AND start_date IS NULL) OR (starts_at IS NULL AND start_date IS NOT NULL))
    );
    CREATE INDEX case_events_case ON case_events (case_id);

    CREATE TABLE documents (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      case_id uuid NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
      external_id text NOT NULL,
      title text NOT NULL,
      file_name text NOT NULL,
      mime_type text NOT NULL,
      size_bytes bigint NOT NULL,
      sha256 text NOT NULL,
      author text,
      document_date date,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz,
      UNIQUE (organization_id, external_id)
    );
    CREATE INDEX documents_case ON documents (case_id);

    CREATE TABLE contacts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      case_id uuid REFERENCES cases(id) ON DELETE CASCADE,
      external_id text NOT NULL,
      name text NOT NULL,
      emails jsonb NOT NULL DEFAULT '[]'::jsonb,
      phones jsonb NOT NULL DEFAULT '[]'::jsonb,
      organization_name text,
      role text,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz,
      UNIQUE (organization_id, external_id)
    );
    CREATE INDEX contacts_case ON contacts (case_id);

    -- A user's link to one Additional Platform account (or one iCal feed).
    CREATE TABLE connections (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      platform text NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'active', 'reauth_required', 'paused', 'revoked')),
      external_account text,
      settings jsonb NOT NULL DEFAULT '{}'::jsonb,
      last_sync_at timestamptz,
      last_error jsonb,
      sync_progress jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    );
    CREATE INDEX connections_org_user ON connections (organization_id, user_id);
    CREATE INDEX connections_org_platform ON connections (organization_id, platform);

    -- Immutable, versioned consent records: a change is a new row with version + 1; only the
    -- withdrawal columns are ever set on an existing row.
    CREATE TABLE consents (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      version integer NOT NULL,
      granted_by uuid NOT NULL REFERENCES users(id),
      categories jsonb NOT NULL,
      -- {"kind":"all"} or {"kind":"cases","caseIds":[...]}
      case_scope jsonb NOT NULL,
      policy_version text NOT NULL,
      method text NOT NULL CHECK (method IN ('api', 'consent_screen')),
      ip text,
      user_agent text,
      attestations jsonb NOT NULL DEFAULT '{}'::jsonb,
      granted_at timestamptz NOT NULL DEFAULT now(),
      withdrawn_at timestamptz,
      withdrawn_by text,
      UNIQUE (connection_id, version)
    );

    -- Last state written to the provider per item: level-triggered reconcile diffs against this.
    CREATE TABLE sync_state (
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      item_key text NOT NULL,
      remote_id text NOT NULL,
      hash text NOT NULL,
      etag text,
      remote_meta jsonb,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (connection_id, item_key)
    );

    -- Provider tokens, AES-256-GCM encrypted (key id stored per value, AAD = connection id).
    -- Deleting the row is crypto-shredding: nothing else holds the secret.
    CREATE TABLE connection_tokens (
      connection_id uuid PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
      key_id text NOT NULL,
      ciphertext text NOT NULL,
      access_expires_at timestamptz,
      scope text,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE connection_tokens, sync_state, consents, connections, contacts, documents, case_events, cases, api_keys, users, organizations;');
}
