import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * The transfer log tells the whole truth (issue 14):
 *
 * 1. **Outcomes that say what is known.** Besides `sent`, `failed` (the provider answered with an
 *    error), `blocked`, `not_modified` and `received`: `unknown` (the request may have left and no
 *    answer came — a timeout, a reset after sending, the process died), `not_sent` (prepared, never
 *    sent) and `resolved` (the provider was read afterwards: `reason` says `took_effect`,
 *    `did_not_take_effect` or `unverifiable`; `intent_id` links the intent). The row shape is
 *    unchanged, so no row's canonical form (and hash) changes.
 * 2. **The chain head is append-only too.** `transfer_log_heads` refuses DELETE and TRUNCATE, and an
 *    UPDATE that does not move the head forward (same organization, higher seq) — the same
 *    `casebridge.retention` escape hatch as the log. Rewinding the head now needs the trigger
 *    disabled, and the checkpoint witness outside the database (see `checkpoint-witness.ts`) names
 *    what was cut.
 * 3. **Recovery watermark.** `transfer_log_recovery_marks` remembers, per organization, the seq up to
 *    which every intent is closed, so the recovery job scans only the recent log. It is bookkeeping,
 *    not evidence: losing it only makes the next scan longer.
 * 4. **Revocation receipts list calls of unknown outcome** (`calls_outcome_unknown`: transfer ids
 *    with how each ended) and say so in their status (`completed_with_calls_in_flight`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE transfer_log DROP CONSTRAINT IF EXISTS transfer_log_outcome_check;
    ALTER TABLE transfer_log ADD CONSTRAINT transfer_log_outcome_check CHECK (outcome IN
      ('intent', 'sent', 'failed', 'blocked', 'not_modified', 'received', 'unknown', 'not_sent', 'resolved'));
    -- The recovery job looks for intents without an outcome and unknowns without a resolution.
    CREATE INDEX transfer_log_open ON transfer_log (organization_id, seq) WHERE outcome IN ('intent', 'unknown');

    CREATE FUNCTION casebridge_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF coalesce(current_setting('casebridge.retention', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
          RETURN OLD;
        END IF;
        RETURN NEW;
      END IF;
      IF TG_OP = 'UPDATE' AND NEW.organization_id = OLD.organization_id AND NEW.seq > OLD.seq THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'table % only moves forward (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    CREATE TRIGGER transfer_log_heads_forward_only BEFORE UPDATE OR DELETE ON transfer_log_heads
      FOR EACH ROW EXECUTE FUNCTION casebridge_head_forward_only();
    CREATE TRIGGER transfer_log_heads_no_truncate BEFORE TRUNCATE ON transfer_log_heads
      FOR EACH STATEMENT EXECUTE FUNCTION casebridge_append_only();

    CREATE TABLE transfer_log_recovery_marks (
      organization_id uuid PRIMARY KEY,
      -- Every intent with seq <= this one has its outcome (and every unknown its resolution).
      seq bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    -- [{"transferId": "…", "resolution": "pending" | "sent" | "failed" | "not_sent" | "took_effect" | …}]
    ALTER TABLE revocations ADD COLUMN calls_outcome_unknown jsonb NOT NULL DEFAULT '[]'::jsonb;
    ALTER TABLE revocations DROP CONSTRAINT IF EXISTS revocations_status_check;
    ALTER TABLE revocations ADD CONSTRAINT revocations_status_check
      CHECK (status IN ('in_progress', 'completed', 'completed_with_calls_in_flight', 'completed_with_errors'));
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE revocations DROP CONSTRAINT revocations_status_check;
    ALTER TABLE revocations ADD CONSTRAINT revocations_status_check CHECK (status IN ('in_progress', 'completed', 'completed_with_errors'));
    ALTER TABLE revocations DROP COLUMN calls_outcome_unknown;
    DROP TABLE transfer_log_recovery_marks;
    DROP TRIGGER transfer_log_heads_no_truncate ON transfer_log_heads;
    DROP TRIGGER transfer_log_heads_forward_only ON transfer_log_heads;
    DROP FUNCTION casebridge_head_forward_only();
    DROP INDEX transfer_log_open;
    ALTER TABLE transfer_log DROP CONSTRAINT transfer_log_outcome_check;
    ALTER TABLE transfer_log ADD CONSTRAINT transfer_log_outcome_check CHECK (outcome IN
      ('intent', 'sent', 'failed', 'blocked', 'not_modified', 'received'));
  `,
  );
}
