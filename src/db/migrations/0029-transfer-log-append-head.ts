import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * A failed append answers with the chain head it lost to (issue 18). `casebridge_transfer_log_append`
 * (migration 0008) returns 0 when another process moved the organization's chain head first; the
 * appender then had to re-read the head (a further round trip) before chaining again. With several
 * worker processes appending for one organization that happened for up to 0.15 appends per provider
 * write. `casebridge_transfer_log_append_or_head` calls it and, when nothing was inserted, reads the
 * head in the same call: each statement of a plpgsql function takes a new snapshot, so this is the head
 * committed by the process that won, the one the next attempt must chain onto. The compare-and-swap is
 * still the only way rows get in; a stale head only costs another attempt.
 *
 * The old function stays (a process still running the previous release calls it during a rolling
 * deploy) and keeps its body: a migration that adds a column to `transfer_log` replaces only that one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE FUNCTION casebridge_transfer_log_append_or_head(
      p_org uuid,
      p_expected_seq bigint,
      p_expected_hash text,
      p_seq bigint,
      p_hash text,
      p_rows jsonb,
      p_sets jsonb,
      p_async_commit boolean
    ) RETURNS TABLE (inserted integer, head_seq bigint, head_hash text) LANGUAGE plpgsql AS $$
    DECLARE
      n integer;
    BEGIN
      n := casebridge_transfer_log_append(p_org, p_expected_seq, p_expected_hash, p_seq, p_hash, p_rows, p_sets, p_async_commit);
      IF n > 0 THEN
        RETURN QUERY SELECT n, p_seq, p_hash;
        RETURN;
      END IF;
      RETURN QUERY SELECT 0, h.seq, h.hash FROM transfer_log_heads h WHERE h.organization_id = p_org;
    END;
    $$;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP FUNCTION casebridge_transfer_log_append_or_head(uuid, bigint, text, bigint, text, jsonb, jsonb, boolean);');
}
