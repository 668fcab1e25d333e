import { sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import { decodeTimeIdCursor, encodeTimeIdCursor } from '../db/page-cursor.ts';
import type { WebhookDeliveryStatus } from '../db/types.ts';
import { NotFoundError } from '../errors/index.ts';
import { WebhooksError } from './errors.ts';
import { WEBHOOK_EVENT_SCHEMAS, type WebhookEventData, type WebhookEventType } from './events.ts';

/**
 * The webhook outbox. `emitWebhookEvent` is the one domain function that announces something to the
 * platform's backend: it writes the event and one pending delivery per subscribed endpoint of the
 * organization, inside the caller's transaction (or its own), so an event exists exactly when the
 * change it reports was committed — a crash right after the commit loses nothing. The webhooks
 * worker (queues/webhook-worker.ts) moves pending deliveries onto the BullMQ queue
 * (`undispatchedDeliveries`), delivers them at least once, and retries with backoff.
 */

export interface EmitWebhookEvent<T extends WebhookEventType> {
  organizationId: string;
  type: T;
  data: WebhookEventData<T>;
  /**
   * Makes the emit idempotent per organization: a second emit with the same key writes nothing
   * (e.g. the same integrity failure found at every sealing run, or an invitation announced twice).
   */
  dedupKey?: string;
}

/** Any one event, typed by its own type's data. */
export type AnyWebhookEvent = { [T in WebhookEventType]: EmitWebhookEvent<T> }[WebhookEventType];

/**
 * Records an event and its deliveries (in `db`'s transaction when it is one, else in its own).
 * Returns the event id, or null when `dedupKey` was already used. Throws on data that does not fit
 * the event type's schema (a programming error: payloads carry ids and statuses only).
 */
export async function emitWebhookEvent<T extends WebhookEventType>(db: Db | Tx, event: EmitWebhookEvent<T>): Promise<string | null> {
  const [id] = await emitWebhookEvents(db, [event as unknown as AnyWebhookEvent]);
  return id ?? null;
}

/**
 * Records many events and their deliveries in two statements, whatever their number (a revocation
 * of a whole organization announces every connection inside its transaction, before it answers).
 * Returns the ids of the events written (those whose `dedupKey` was new).
 */
export async function emitWebhookEvents(db: Db | Tx, events: readonly AnyWebhookEvent[]): Promise<string[]> {
  if (!events.length) return [];
  const values = events.map((e) => ({
    organization_id: e.organizationId,
    type: e.type,
    data: JSON.stringify(WEBHOOK_EVENT_SCHEMAS[e.type].parse(e.data)),
    dedup_key: e.dedupKey ?? null,
  }));
  const write = async (tx: Db | Tx) => {
    const rows = await tx
      .insertInto('webhook_events')
      .values(values)
      .onConflict((oc) => oc.columns(['organization_id', 'dedup_key']).where('dedup_key', 'is not', null).doNothing())
      .returning('id')
      .execute();
    const ids = rows.map((r) => r.id);
    if (!ids.length) return ids;
    await sql`
      INSERT INTO webhook_deliveries (organization_id, endpoint_id, event_id)
      SELECT w.organization_id, w.id, e.id
      FROM webhook_events e JOIN webhook_endpoints w ON w.organization_id = e.organization_id
      WHERE e.id IN (${sql.join(ids.map((id) => sql`${id}::uuid`))})
        AND w.deleted_at IS NULL AND w.secret_ciphertext IS NOT NULL
        AND (w.event_types IS NULL OR jsonb_typeof(w.event_types) = 'null' OR w.event_types @> jsonb_build_array(e.type))
    `.execute(tx);
    return ids;
  };
  return db.isTransaction ? write(db) : (db as Db).transaction().execute(write);
}

/** How long a dispatched delivery may sit without an attempt before the dispatcher puts it on the queue again. */
const STALE_MS = 5 * 60_000;

/**
 * Pending deliveries to put on the queue: never dispatched ones, and dispatched ones with no attempt
 * for a while (`stale`: their job was lost with Redis, or failed on a database error). Adding a job
 * whose id exists is a no-op, so dispatching twice is harmless.
 */
export async function undispatchedDeliveries(db: Db, limit = 500): Promise<{ fresh: string[]; stale: string[] }> {
  const stale = new Date(Date.now() - STALE_MS);
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['id', 'enqueued_at'])
    .where('status', '=', 'pending')
    .where((eb) =>
      eb.or([
        eb('enqueued_at', 'is', null),
        eb.and([eb('enqueued_at', '<', stale), eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<', stale)])]),
      ]),
    )
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return { fresh: rows.filter((r) => !r.enqueued_at).map((r) => r.id), stale: rows.filter((r) => r.enqueued_at).map((r) => r.id) };
}

/** Marks deliveries as on the queue. */
export async function markDispatched(db: Db, ids: readonly string[]): Promise<void> {
  if (!ids.length) return;
  await db
    .updateTable('webhook_deliveries')
    .set({ enqueued_at: new Date() })
    .where('id', 'in', [...ids])
    .execute();
}

/** One row of the delivery log, as the API shows it. */
export interface WebhookDeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  status: WebhookDeliveryStatus;
  replayOf: string | null;
  attemptCount: number;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function deliveriesQuery(db: Db) {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .select([
      'd.id',
      'd.event_id',
      'e.type',
      'd.status',
      'd.replay_of',
      'd.attempt_count',
      'd.last_attempt_at',
      'd.last_status_code',
      'd.last_error',
      'd.next_attempt_at',
      'd.delivered_at',
      'd.created_at',
    ]);
}

type DeliveryRow = Awaited<ReturnType<ReturnType<typeof deliveriesQuery>['executeTakeFirstOrThrow']>>;

function deliveryView(r: DeliveryRow): WebhookDeliveryView {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.type,
    status: r.status,
    replayOf: r.replay_of,
    attemptCount: r.attempt_count,
    lastAttemptAt: iso(r.last_attempt_at),
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    deliveredAt: iso(r.delivered_at),
    createdAt: r.created_at.toISOString(),
  };
}

async function liveEndpointId(db: Db, organizationId: string, endpointId: string): Promise<void> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .select('id')
    .where('id', '=', endpointId)
    .where('organization_id', '=', organizationId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('webhook endpoint');
}

/** A page of an endpoint's delivery log, newest first. */
export async function listWebhookDeliveries(
  db: Db,
  params: { organizationId: string; endpointId: string; status?: WebhookDeliveryStatus; eventId?: string; limit: number; cursor?: string },
): Promise<{ items: WebhookDeliveryView[]; nextCursor: string | null }> {
  await liveEndpointId(db, params.organizationId, params.endpointId);
  const cursor = params.cursor ? decodeTimeIdCursor(params.cursor) : null;
  if (params.cursor && !cursor) throw new WebhooksError('invalid_cursor', 'the cursor is not one this API returned');
  let q = deliveriesQuery(db).where('d.endpoint_id', '=', params.endpointId).where('d.organization_id', '=', params.organizationId);
  if (params.status) q = q.where('d.status', '=', params.status);
  if (params.eventId) q = q.where('d.event_id', '=', params.eventId);
  if (cursor) q = q.where((eb) => eb.or([eb('d.created_at', '<', cursor.at), eb.and([eb('d.created_at', '=', cursor.at), eb('d.id', '<', cursor.id)])]));
  const rows = await q
    .orderBy('d.created_at', 'desc')
    .orderBy('d.id', 'desc')
    .limit(params.limit + 1)
    .execute();
  const page = rows.slice(0, params.limit);
  const last = page[page.length - 1];
  return { items: page.map(deliveryView), nextCursor: rows.length > params.limit && last ? encodeTimeIdCursor(last.created_at, last.id) : null };
}

/**
 * Replays a delivery: a new pending delivery of the same event (same event id, so a receiver that
 * already processed it can tell), to the same endpoint, whatever the first one's outcome.
 */
export async function replayWebhookDelivery(db: Db, params: { organizationId: string; endpointId: string; deliveryId: string }): Promise<WebhookDeliveryView> {
  await liveEndpointId(db, params.organizationId, params.endpointId);
  const original = await db
    .selectFrom('webhook_deliveries')
    .select(['id', 'event_id'])
    .where('id', '=', params.deliveryId)
    .where('endpoint_id', '=', params.endpointId)
    .where('organization_id', '=', params.organizationId)
    .executeTakeFirst();
  if (!original) throw new NotFoundError('webhook delivery');
  const row = await db
    .insertInto('webhook_deliveries')
    .values({ organization_id: params.organizationId, endpoint_id: params.endpointId, event_id: original.event_id, replay_of: original.id })
    .returning('id')
    .executeTakeFirstOrThrow();
  return deliveryView(await deliveriesQuery(db).where('d.id', '=', row.id).executeTakeFirstOrThrow());
}

/**
 * Retention of the delivery log: events older than `days` whose deliveries are all settled
 * (delivered, failed or cancelled) are deleted with their deliveries. The maintenance queue runs it
 * daily (`prune-webhooks`). Returns how many events were deleted.
 */
export async function pruneWebhookLog(db: Db, days: number): Promise<{ deleted: number }> {
  const before = new Date(Date.now() - days * 24 * 3600_000);
  const rows = await db
    .deleteFrom('webhook_events')
    .where('created_at', '<', before)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.event_id', '=', 'webhook_events.id').where('d.status', '=', 'pending'))),
    )
    .returning('id')
    .execute();
  return { deleted: rows.length };
}
