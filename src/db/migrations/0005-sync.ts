import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * The sync engine's bookkeeping beyond 0001's `sync_state`:
 * - `sync_state.case_id`: which case an item belongs to, so a change to a case finds every
 *   connection holding its items (also after the user was unassigned from it);
 * - `sync_item_errors`: permanent per-item failures (an item that the provider keeps refusing is
 *   recorded and skipped until its content changes, instead of being retried forever);
 * - `connections.last_full_sync_at`: when drift repair last compared the remote calendar.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE sync_state ADD COLUMN case_id uuid;
    CREATE INDEX sync_state_case ON sync_state (case_id, connection_id);

    CREATE TABLE sync_item_errors (
      connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
      item_key text NOT NULL,
      -- Content hash that failed: the item is retried as soon as its desired hash differs.
      hash text NOT NULL,
      operation text NOT NULL,
      error_class text NOT NULL,
      provider_status integer,
      message text NOT NULL,
      attempts integer NOT NULL DEFAULT 1,
      first_failed_at timestamptz NOT NULL DEFAULT now(),
      last_failed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (connection_id, item_key)
    );

    ALTER TABLE connections ADD COLUMN last_full_sync_at timestamptz;
    CREATE INDEX connections_status_platform ON connections (status, platform);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    DROP INDEX connections_status_platform;
    ALTER TABLE connections DROP COLUMN last_full_sync_at;
    DROP TABLE sync_item_errors;
    DROP INDEX sync_state_case;
    ALTER TABLE sync_state DROP COLUMN case_id;
  `,
  );
}
