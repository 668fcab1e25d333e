import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * The privacy core's tables: the append-only, hash-chained transfer log with its per-organization
 * chain heads and signed checkpoints, and the audit log of administrative actions.
 *
 * Append-only is enforced by the database: a trigger refuses UPDATE, DELETE and TRUNCATE on
 * `transfer_log`, `transfer_log_checkpoints` and `audit_log` unless the session setting
 * `casebridge.retention` is `'on'`. Only the retention job sets it, with `SET LOCAL` inside its own
 * transaction, so it never leaks to other statements on a pooled connection. This is the equivalent
 * of "only the retention job's database role may delete", and unlike a role it also works on PGlite
 * (single user) and on managed PostgreSQL where the service owns its tables. A DBA can still disable
 * the trigger — that is what the hash chain and the signed checkpoints are for: `transfers verify`
 * names the first row that no longer matches.
 *
 * The log has no foreign keys on purpose: it must outlive the connections, users and consents it
 * describes (deleting a connection must neither cascade into the log nor be blocked by it).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE transfer_log (
      id uuid PRIMARY KEY,
      organization_id uuid NOT NULL,
      -- Position in the organization's chain, 1-based and gapless (retention removes a prefix).
      seq bigint NOT NULL,
      direction text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
      user_id uuid,
      connection_id uuid,
      platform text,
      recipient_account text,
      recipient_destination text,
      -- {"caseIds":[...],"eventIds":[...],"contactIds":[...],"personIds":[...],"documentIds":[...]}
      -- GIN-indexed (jsonb_path_ops): subject queries use containment, subjects @> '{"caseIds":["…"]}'.
      subjects jsonb NOT NULL DEFAULT '{}'::jsonb,
      categories jsonb NOT NULL DEFAULT '[]'::jsonb,
      field_names jsonb NOT NULL DEFAULT '[]'::jsonb,
      purpose text NOT NULL,
      consent_id uuid,
      consent_version integer,
      payload_sha256 text,
      payload_bytes integer,
      actor jsonb NOT NULL,
      operation text NOT NULL,
      item_key text,
      -- Outcome rows point at the intent row they complete.
      intent_id uuid,
      outcome text NOT NULL CHECK (outcome IN ('intent', 'sent', 'failed', 'blocked', 'not_modified', 'received')),
      provider_status integer,
      remote_id text,
      duration_ms integer,
      reason text,
      error_class text,
      error_message text,
      requester_ip text,
      requester_user_agent text,
      created_at timestamptz NOT NULL,
      prev_hash text NOT NULL,
      hash text NOT NULL,
      UNIQUE (organization_id, seq)
    );
    -- Connection ids are globally unique: no organization prefix, so the gate can find a deleted
    -- connection's organization from its last row.
    CREATE INDEX transfer_log_connection ON transfer_log (connection_id, seq);
    CREATE INDEX transfer_log_user ON transfer_log (organization_id, user_id, seq);
    CREATE INDEX transfer_log_created ON transfer_log (organization_id, created_at);
    CREATE INDEX transfer_log_intent ON transfer_log (intent_id) WHERE intent_id IS NOT NULL;
    CREATE INDEX transfer_log_subjects ON transfer_log USING gin (subjects jsonb_path_ops);

    -- The head of each organization's chain: appenders compare-and-swap it in the same statement
    -- that inserts their rows, so concurrent writers (any number of processes) keep one chain.
    CREATE TABLE transfer_log_heads (
      organization_id uuid PRIMARY KEY,
      seq bigint NOT NULL,
      hash text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    -- Ed25519-signed seals of a chain prefix: (tree size = seq of the last sealed row, its hash, time).
    CREATE TABLE transfer_log_checkpoints (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL,
      seq bigint NOT NULL,
      head_hash text NOT NULL,
      -- 'periodic' (maintenance job) or 'retention' (anchors the oldest retained row after a purge).
      kind text NOT NULL CHECK (kind IN ('periodic', 'retention', 'manual')),
      key_id text NOT NULL,
      signature text NOT NULL,
      sealed_at timestamptz NOT NULL,
      UNIQUE (organization_id, seq, kind)
    );
    CREATE INDEX transfer_log_checkpoints_org ON transfer_log_checkpoints (organization_id, seq);

    -- Administrative actions (revocations, retention runs, exports): who did what to what, when.
    CREATE TABLE audit_log (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid,
      actor jsonb NOT NULL,
      action text NOT NULL,
      target text,
      details jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX audit_log_org ON audit_log (organization_id, created_at, id);
    CREATE INDEX audit_log_action ON audit_log (organization_id, action, created_at);

    CREATE FUNCTION casebridge_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF coalesce(current_setting('casebridge.retention', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
          RETURN OLD;
        END IF;
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'table % is append-only (% refused; only the retention job may remove rows)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END;
    $$;

    CREATE TRIGGER transfer_log_append_only BEFORE UPDATE OR DELETE ON transfer_log
      FOR EACH ROW EXECUTE FUNCTION casebridge_append_only();
    CREATE TRIGGER transfer_log_no_truncate BEFORE TRUNCATE ON transfer_log
      FOR EACH STATEMENT EXECUTE FUNCTION casebridge_append_only();
    CREATE TRIGGER transfer_log_checkpoints_append_only BEFORE UPDATE OR DELETE ON transfer_log_checkpoints
      FOR EACH ROW EXECUTE FUNCTION casebridge_append_only();
    CREATE TRIGGER transfer_log_checkpoints_no_truncate BEFORE TRUNCATE ON transfer_log_checkpoints
      FOR EACH STATEMENT EXECUTE FUNCTION casebridge_append_only();
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION casebridge_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION casebridge_append_only();
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    DROP TABLE audit_log, transfer_log_checkpoints, transfer_log_heads, transfer_log;
    DROP FUNCTION casebridge_append_only();
  `,
  );
}
