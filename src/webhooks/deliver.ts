import type { Db } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { signingSecrets, type WebhookDeps } from './endpoints.ts';
import type { WebhookEventType, WebhookPayload } from './events.ts';
import { postWebhook } from './sender.ts';
import { HEADER_DELIVERY_ID, HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SIGNATURE, HEADER_TIMESTAMP, signatureHeader } from './signature.ts';

/**
 * One delivery attempt: load the delivery, its event and endpoint, sign, POST, record the answer
 * in the delivery log. A 2xx is delivered; anything else (an error status, a redirect, a timeout,
 * a refused address) is retried after an exponential backoff with jitter
 * (WEBHOOK_RETRY_BASE_MS doubling up to WEBHOOK_RETRY_MAX_DELAY_MS) until
 * WEBHOOK_RETRY_WINDOW_SECONDS (3 days) after the delivery was created; then it is `failed`
 * (a replay starts a new one). The caller (the queue worker) waits `retryInMs` before the next try.
 */

export type DeliveryConfig = WebhookDeps['config'] & {
  WEBHOOK_RETRY_WINDOW_SECONDS: number;
  WEBHOOK_RETRY_BASE_MS: number;
  WEBHOOK_RETRY_MAX_DELAY_MS: number;
  WEBHOOK_TIMEOUT_MS: number;
};

export type AttemptResult =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'retry'; retryInMs: number; error: string }
  | { outcome: 'failed'; error: string }
  | { outcome: 'skipped'; reason: 'missing' | 'not_pending' | 'endpoint_gone' };

/** Delay before attempt `attempt + 1` after `attempt` failures (1-based): base·2^(n−1), capped, ±25 % jitter. */
export function retryDelayMs(
  config: Pick<DeliveryConfig, 'WEBHOOK_RETRY_BASE_MS' | 'WEBHOOK_RETRY_MAX_DELAY_MS'>,
  attempt: number,
  random = Math.random(),
): number {
  const raw = Math.min(config.WEBHOOK_RETRY_MAX_DELAY_MS, config.WEBHOOK_RETRY_BASE_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(raw * (0.75 + random * 0.5));
}

/** The exact body sent for an event (the same bytes on every attempt and replay). */
export function payloadOf(event: { id: string; type: string; organization_id: string; data: Record<string, unknown>; created_at: Date }): string {
  const payload: WebhookPayload = {
    id: event.id,
    type: event.type as WebhookEventType,
    createdAt: event.created_at.toISOString(),
    organizationId: event.organization_id,
    data: event.data,
  };
  return JSON.stringify(payload);
}

/** Makes one attempt of a pending delivery and records it. */
export async function attemptDelivery(deps: { db: Db; config: DeliveryConfig; logger: Logger }, deliveryId: string): Promise<AttemptResult> {
  const { db, config } = deps;
  const row = await db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .innerJoin('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
    .select([
      'd.id',
      'd.status',
      'd.attempt_count',
      'd.created_at as delivery_created_at',
      'e.id as event_id',
      'e.type',
      'e.organization_id',
      'e.data',
      'e.created_at',
      'w.id as endpoint_id',
      'w.url',
      'w.deleted_at',
      'w.secret_key_id',
      'w.secret_ciphertext',
      'w.previous_secret_key_id',
      'w.previous_secret_ciphertext',
      'w.previous_secret_expires_at',
    ])
    .where('d.id', '=', deliveryId)
    .executeTakeFirst();
  if (!row) return { outcome: 'skipped', reason: 'missing' };
  if (row.status !== 'pending') return { outcome: 'skipped', reason: 'not_pending' };
  const secrets = row.deleted_at ? [] : signingSecrets(config, { ...row, id: row.endpoint_id });
  if (!secrets.length) {
    await db
      .updateTable('webhook_deliveries')
      .set({ status: 'cancelled', next_attempt_at: null })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .execute();
    return { outcome: 'skipped', reason: 'endpoint_gone' };
  }

  const body = payloadOf({ id: row.event_id, type: row.type, organization_id: row.organization_id, data: row.data, created_at: row.created_at });
  const timestamp = Math.floor(Date.now() / 1000);
  const sent = await postWebhook({
    url: row.url,
    body,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
    headers: {
      'user-agent': 'Casebridge-Webhooks/1',
      [HEADER_EVENT_ID]: row.event_id,
      [HEADER_EVENT_TYPE]: row.type,
      [HEADER_DELIVERY_ID]: row.id,
      [HEADER_TIMESTAMP]: String(timestamp),
      [HEADER_SIGNATURE]: signatureHeader(secrets, timestamp, body),
    },
  });
  const now = new Date();
  const attempts = row.attempt_count + 1;
  const base = { attempt_count: attempts, last_attempt_at: now, last_status_code: sent.status };
  if (sent.ok) {
    await db
      .updateTable('webhook_deliveries')
      .set({ ...base, last_error: null, status: 'delivered', delivered_at: now, next_attempt_at: null })
      .where('id', '=', row.id)
      .execute();
    return { outcome: 'delivered', status: sent.status };
  }
  const delay = retryDelayMs(config, attempts);
  const deadline = row.delivery_created_at.getTime() + config.WEBHOOK_RETRY_WINDOW_SECONDS * 1000;
  if (now.getTime() + delay > deadline) {
    await db
      .updateTable('webhook_deliveries')
      .set({ ...base, last_error: sent.error, status: 'failed', next_attempt_at: null })
      .where('id', '=', row.id)
      .execute();
    deps.logger.warn({ deliveryId: row.id, endpointId: row.endpoint_id, attempts }, 'webhook delivery failed for good');
    return { outcome: 'failed', error: sent.error };
  }
  await db
    .updateTable('webhook_deliveries')
    .set({ ...base, last_error: sent.error, next_attempt_at: new Date(now.getTime() + delay) })
    .where('id', '=', row.id)
    .execute();
  return { outcome: 'retry', retryInMs: delay, error: sent.error };
}
