import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * The transfer log's fast path (issues 3 and 6):
 *
 * 1. **Subject sets.** A row that names many data subjects (an iCal feed fetch names every event of the
 *    feed: 5,000 ids, ~190 KB) stores them once in `transfer_subject_sets`, keyed by the SHA-256 of
 *    their canonical JSON, and names the set by that digest in `transfer_log.subjects_digest` (its
 *    inline `subjects` stay `{}`). Polling an unchanged feed then writes two small rows instead of two
 *    190 KB ones. The digest is part of the row's hash, and `transfers verify` recomputes every
 *    referenced set's digest, so editing a set (or pointing a row at another one) is detected like any
 *    other edit. Sets are append-only like the log (the same trigger); the retention job removes the
 *    sets no retained row references. The foreign key makes a row that names a missing set impossible.
 *
 * 2. **One cached-plan call per append.** `casebridge_transfer_log_append` does what the appender's
 *    compare-and-swap statement did — move the organization's chain head from the expected (seq, hash)
 *    to the new one and insert the rows only when that succeeded — plus the new sets, in one call whose
 *    plans plpgsql caches per connection (the CTE statement was parsed and planned on every append).
 *    The UPDATE takes the head row's lock, so a concurrent appender waits, re-checks against the
 *    committed head, finds it moved and gets 0 (then re-reads the head and retries). With
 *    `p_async_commit` the transaction commits with `synchronous_commit = off`: the writer asks for it
 *    only for batches made of outcome rows alone (never for an intent, which must be durable before the
 *    provider call). Rows committed that way reach disk within a few hundred milliseconds, and before
 *    any later synchronous commit returns (WAL is flushed in order); only a crash of the database
 *    server itself in that window can lose them — the transfer then shows as an intent without an
 *    outcome ("unconfirmed"), exactly as when the process dies during the call.
 *
 * If a later migration adds a column to `transfer_log`, it must `CREATE OR REPLACE` this function with
 * the new column list.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE transfer_subject_sets (
      organization_id uuid NOT NULL,
      -- SHA-256 (hex) of the canonical JSON of subjects.
      digest text NOT NULL,
      -- {"caseIds":[...],"eventIds":[...],...}: the normalised form (known kinds, de-duplicated).
      subjects jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, digest)
    );
    CREATE INDEX transfer_subject_sets_subjects ON transfer_subject_sets USING gin (subjects jsonb_path_ops);

    ALTER TABLE transfer_log ADD COLUMN subjects_digest text;
    ALTER TABLE transfer_log ADD CONSTRAINT transfer_log_subject_set
      FOREIGN KEY (organization_id, subjects_digest) REFERENCES transfer_subject_sets (organization_id, digest);
    CREATE INDEX transfer_log_subject_set ON transfer_log (organization_id, subjects_digest) WHERE subjects_digest IS NOT NULL;

    CREATE TRIGGER transfer_subject_sets_append_only BEFORE UPDATE OR DELETE ON transfer_subject_sets
      FOR EACH ROW EXECUTE FUNCTION casebridge_append_only();
    CREATE TRIGGER transfer_subject_sets_no_truncate BEFORE TRUNCATE ON transfer_subject_sets
      FOR EACH STATEMENT EXECUTE FUNCTION casebridge_append_only();

    CREATE FUNCTION casebridge_transfer_log_append(
      p_org uuid,
      p_expected_seq bigint,
      p_expected_hash text,
      p_seq bigint,
      p_hash text,
      p_rows jsonb,
      p_sets jsonb,
      p_async_commit boolean
    ) RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      inserted integer;
    BEGIN
      UPDATE transfer_log_heads SET seq = p_seq, hash = p_hash, updated_at = now()
        WHERE organization_id = p_org AND seq = p_expected_seq AND hash = p_expected_hash;
      IF NOT FOUND THEN
        RETURN 0;
      END IF;
      IF p_async_commit THEN
        PERFORM set_config('synchronous_commit', 'off', true);
      END IF;
      IF p_sets IS NOT NULL THEN
        INSERT INTO transfer_subject_sets (organization_id, digest, subjects)
          SELECT p_org, s.digest, s.subjects FROM jsonb_to_recordset(p_sets) AS s(digest text, subjects jsonb)
          ON CONFLICT DO NOTHING;
      END IF;
      -- Each record is the row's canonical JSON (what its hash covers, camelCase) plus prevHash and
      -- hash: the appender serialises a row once, for the hash and for this insert.
      INSERT INTO transfer_log (
        id, organization_id, seq, direction, user_id, connection_id, platform, recipient_account,
        recipient_destination, subjects, subjects_digest, categories, field_names, purpose, consent_id,
        consent_version, payload_sha256, payload_bytes, actor, operation, item_key, intent_id, outcome,
        provider_status, remote_id, duration_ms, reason, error_class, error_message, requester_ip,
        requester_user_agent, created_at, prev_hash, hash
      )
      SELECT
        x."id", x."organizationId", x."seq", x."direction", x."userId", x."connectionId", x."platform",
        x."recipientAccount", x."recipientDestination", x."subjects", x."subjectsDigest", x."categories",
        x."fieldNames", x."purpose", x."consentId", x."consentVersion", x."payloadSha256", x."payloadBytes",
        x."actor", x."operation", x."itemKey", x."intentId", x."outcome", x."providerStatus", x."remoteId",
        x."durationMs", x."reason", x."errorClass", x."errorMessage", x."requesterIp", x."requesterUserAgent",
        x."createdAt", x."prevHash", x."hash"
      FROM jsonb_to_recordset(p_rows) AS x(
        "id" uuid, "organizationId" uuid, "seq" bigint, "direction" text, "userId" uuid, "connectionId" uuid,
        "platform" text, "recipientAccount" text, "recipientDestination" text, "subjects" jsonb,
        "subjectsDigest" text, "categories" jsonb, "fieldNames" jsonb, "purpose" text, "consentId" uuid,
        "consentVersion" integer, "payloadSha256" text, "payloadBytes" integer, "actor" jsonb,
        "operation" text, "itemKey" text, "intentId" uuid, "outcome" text, "providerStatus" integer,
        "remoteId" text, "durationMs" integer, "reason" text, "errorClass" text, "errorMessage" text,
        "requesterIp" text, "requesterUserAgent" text, "createdAt" timestamptz, "prevHash" text, "hash" text
      );
      GET DIAGNOSTICS inserted = ROW_COUNT;
      RETURN inserted;
    END;
    $$;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    DROP FUNCTION casebridge_transfer_log_append(uuid, bigint, text, bigint, text, jsonb, jsonb, boolean);
    ALTER TABLE transfer_log DROP CONSTRAINT transfer_log_subject_set;
    DROP INDEX transfer_log_subject_set;
    ALTER TABLE transfer_log DROP COLUMN subjects_digest;
    DROP TABLE transfer_subject_sets;
  `,
  );
}
