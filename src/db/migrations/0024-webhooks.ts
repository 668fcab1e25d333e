import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Webhooks to the platform (src/webhooks/):
 * - `webhook_endpoints`: per organization, a URL, the event types it wants (null = all) and its
 *   signing secret sealed like provider tokens (AES-256-GCM under TOKEN_ENCRYPTION_KEYS, AAD = the
 *   endpoint id); after a rotation the previous secret stays valid until `previous_secret_expires_at`.
 *   Deleting an endpoint keeps the row (its delivery log stays readable) and shreds both secrets.
 * - `webhook_events`: the outbox. Written in the same transaction as the change it reports, so no
 *   event is lost to a crash between the commit and the queue; `dedup_key` makes an emit idempotent
 *   (the same integrity failure found every minute is one event).
 * - `webhook_deliveries`: one row per (event, endpoint), written in that same transaction — the
 *   delivery log (attempts, last answer, next attempt) and what the dispatcher puts on the queue.
 * - `webhook_sync_failures`: connections whose sync is failing, so `sync.failed` is sent once per
 *   failure episode and `sync.recovered` once when a run succeeds again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE webhook_endpoints (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      url text NOT NULL,
      description text,
      event_types jsonb,
      secret_key_id text,
      secret_ciphertext text,
      previous_secret_key_id text,
      previous_secret_ciphertext text,
      previous_secret_expires_at timestamptz,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz
    );
    CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (organization_id, created_at DESC, id DESC);

    CREATE TABLE webhook_events (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      type text NOT NULL,
      data jsonb NOT NULL,
      dedup_key text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX webhook_events_dedup ON webhook_events (organization_id, dedup_key) WHERE dedup_key IS NOT NULL;

    CREATE TABLE webhook_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      endpoint_id uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
      event_id uuid NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
      replay_of uuid REFERENCES webhook_deliveries(id) ON DELETE SET NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
      attempt_count integer NOT NULL DEFAULT 0,
      last_attempt_at timestamptz,
      last_status_code integer,
      last_error text,
      next_attempt_at timestamptz,
      enqueued_at timestamptz,
      delivered_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (created_at) WHERE status = 'pending';

    CREATE TABLE webhook_sync_failures (
      connection_id uuid PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
      code text NOT NULL,
      failed_at timestamptz NOT NULL DEFAULT now()
    );
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE webhook_sync_failures; DROP TABLE webhook_deliveries; DROP TABLE webhook_events; DROP TABLE webhook_endpoints;');
}
