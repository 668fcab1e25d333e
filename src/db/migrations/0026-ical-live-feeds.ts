import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * The iCal endpoint's lookup by token hash as a function (issue 14). `casebridge_ical_live_feeds`
 * runs the same query `connectors/ical/feeds.ts#findLiveFeeds` ran — live feed, active connection on
 * platform `ical`, active owner, platform not switched off for the organization, the latest consent not
 * withdrawn — for an array of token hashes. As a plpgsql function its plan is cached per connection:
 * the five-table join was parsed and planned on every fetch (planning was ~0.3 ms of its ~0.35 ms on
 * the server), and every conditional GET of a feed runs it. The check is still made on every request,
 * on committed data: a rotated, deleted or revoked token answers 404 at once.
 *
 * If a later migration changes what makes a feed live, it must `CREATE OR REPLACE` this function.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE FUNCTION casebridge_ical_live_feeds(p_token_hashes text[])
    RETURNS TABLE (
      token_hash text,
      feed_id uuid,
      name text,
      connection_id uuid,
      organization_id uuid,
      user_id uuid,
      email text,
      data_version bigint,
      consent_id uuid,
      consent_version integer,
      case_scope jsonb
    )
    LANGUAGE plpgsql STABLE AS $$
    #variable_conflict use_column
    BEGIN
      RETURN QUERY
      SELECT DISTINCT ON (f.token_hash)
        f.token_hash, f.id, f.name, c.id, c.organization_id, c.user_id, u.email, o.data_version, cs.id, cs.version, cs.case_scope
      FROM ical_feeds f
      JOIN connections c ON c.id = f.connection_id
      JOIN users u ON u.id = c.user_id
      JOIN organizations o ON o.id = c.organization_id
      JOIN consents cs ON cs.connection_id = c.id
      WHERE f.token_hash = ANY (p_token_hashes)
        AND f.revoked_at IS NULL
        AND c.status = 'active'
        AND c.platform = 'ical'
        AND u.status = 'active'
        AND cs.withdrawn_at IS NULL
        AND NOT (coalesce(o.settings -> 'disabledPlatforms', '[]'::jsonb) @> '["ical"]'::jsonb)
      ORDER BY f.token_hash, cs.version DESC;
    END;
    $$;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP FUNCTION casebridge_ical_live_feeds(text[]);');
}
