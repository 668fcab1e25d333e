import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * iCal subscription feeds. Each feed is one `connections` row (platform `ical`, its consent hangs off
 * it like any other platform's) plus this row holding the secret URL's token — as a SHA-256 only: the
 * plain token is shown once at creation or rotation and never stored. A rotation overwrites the hash,
 * so the old URL stops matching at once; a deletion or revocation sets `revoked_at`.
 *
 * SEQUENCE needs no state here: it is the case event's `version`, which only grows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE ical_feeds (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      connection_id uuid NOT NULL UNIQUE REFERENCES connections(id) ON DELETE CASCADE,
      -- hex SHA-256 of the 256-bit token; the unique index is the public endpoint's only lookup path.
      token_hash text NOT NULL UNIQUE,
      -- First characters of the token, so the user can tell feeds apart without it being stored.
      token_hint text NOT NULL,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      rotated_at timestamptz,
      revoked_at timestamptz
    );
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE ical_feeds;');
}
