import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * An iCal 304's row goes in only while its feed is still what the answer was decided on (issue 14).
 * A conditional GET of a feed a process has served was answered in two statements per batch: the
 * live-feed lookup (`casebridge_ical_live_feeds`, migration 0026), then the `not_modified` rows. Now the
 * answer is decided on the feed as the process last looked it up, and the append checks it:
 *
 * - `casebridge_ical_feeds_changed(p_checks)`: per check `{"tokenHash", "feed"}` — `feed` the array
 *   (feed id, connection id, data version, consent id, consent version, owner e-mail, feed name) the
 *   answer's ETag was chosen on — the 0-based indices of the checks whose token no longer names a live
 *   feed (the same function as the lookup, so the same rules) or names one that differs in any of them.
 * - `casebridge_transfer_log_append_checked(...)`: `casebridge_transfer_log_append_or_head` (migration
 *   0029) behind those checks, in one call: when any check fails nothing is inserted and the head is
 *   not touched (`inserted` 0, `failed_checks` the indices), and the appender drops those rows and
 *   appends the others; otherwise the append as before (`failed_checks` null).
 *
 * The check runs on committed data in the same call as the insert, so a 304 is logged (and answered)
 * only for a feed that was live, unchanged, a moment before its row went in — as with the lookup, which
 * ran a round trip earlier. Revocations still also wait for the call's lease (see inflight.ts).
 *
 * If a later migration changes what makes a feed live, replacing `casebridge_ical_live_feeds` is enough.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE FUNCTION casebridge_ical_feeds_changed(p_checks jsonb) RETURNS integer[] LANGUAGE plpgsql STABLE AS $$
    DECLARE
      failed integer[];
    BEGIN
      SELECT coalesce(array_agg((c.i - 1)::integer ORDER BY c.i), '{}') INTO failed
      FROM jsonb_array_elements(p_checks) WITH ORDINALITY AS c(v, i)
      LEFT JOIN casebridge_ical_live_feeds(ARRAY(SELECT e ->> 'tokenHash' FROM jsonb_array_elements(p_checks) AS e)) AS l
        ON l.token_hash = c.v ->> 'tokenHash'
      WHERE l.token_hash IS NULL
        OR jsonb_build_array(l.feed_id, l.connection_id, l.data_version, l.consent_id, l.consent_version, l.email, l.name) <> c.v -> 'feed';
      RETURN failed;
    END;
    $$;

    CREATE FUNCTION casebridge_transfer_log_append_checked(
      p_org uuid,
      p_expected_seq bigint,
      p_expected_hash text,
      p_seq bigint,
      p_hash text,
      p_rows jsonb,
      p_sets jsonb,
      p_async_commit boolean,
      p_checks jsonb
    ) RETURNS TABLE (inserted integer, head_seq bigint, head_hash text, failed_checks integer[]) LANGUAGE plpgsql AS $$
    DECLARE
      failed integer[];
    BEGIN
      failed := casebridge_ical_feeds_changed(p_checks);
      IF cardinality(failed) > 0 THEN
        RETURN QUERY SELECT 0, NULL::bigint, NULL::text, failed;
        RETURN;
      END IF;
      RETURN QUERY SELECT a.inserted, a.head_seq, a.head_hash, NULL::integer[]
        FROM casebridge_transfer_log_append_or_head(p_org, p_expected_seq, p_expected_hash, p_seq, p_hash, p_rows, p_sets, p_async_commit) AS a;
    END;
    $$;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    DROP FUNCTION casebridge_transfer_log_append_checked(uuid, bigint, text, bigint, text, jsonb, jsonb, boolean, jsonb);
    DROP FUNCTION casebridge_ical_feeds_changed(jsonb);
  `,
  );
}
