import { z } from 'zod';

/**
 * The webhook event registry: every event type the platform's backend can receive, with the schema
 * of its `data`. One source of truth: the API's enum of types and the emit function's checks derive
 * from it (the README lists them). Payloads carry ids, statuses and stable codes only — never case
 * data (titles, names, addresses, document contents) and never a secret: the receiver reads details
 * it needs through the API. Every schema is strict, so an emitter cannot slip another field in; no
 * length limits on internal codes and id lists, since a parse failure would roll back the change the
 * event reports (a status transition, a revocation receipt).
 */

const connectionFacts = {
  connectionId: z.uuid(),
  userId: z.uuid().nullable(),
  platform: z.string(),
  status: z.enum(['pending', 'active', 'reauth_required', 'paused', 'revoked']),
};

const invitationFacts = {
  invitationId: z.uuid(),
  /** The connection the invitation was sent through, when one. */
  connectionId: z.uuid().nullable(),
  /** The contact (imported or case contact) invited, when known. */
  contactId: z.uuid().nullable(),
  /** The user on whose behalf it was sent, when one. */
  userId: z.uuid().nullable(),
};

export const WEBHOOK_EVENT_SCHEMAS = {
  /** A connection was created (pending its authorization, or active at once for feed-like platforms). */
  'connection.created': z.strictObject(connectionFacts),
  /** A connection became active (authorized, or re-authorized after `reauth_required`/`paused`). */
  'connection.active': z.strictObject(connectionFacts),
  /** The provider grant is gone: the user has to reconnect; syncing stopped. */
  'connection.reauth_required': z.strictObject({ ...connectionFacts, code: z.string().nullable() }),
  /** The platform was switched off for the organization: the connection waits. */
  'connection.paused': z.strictObject(connectionFacts),
  /** The connection was revoked (final). */
  'connection.revoked': z.strictObject(connectionFacts),
  /** Syncing a connection failed (once per failure episode, not per retry). */
  'sync.failed': z.strictObject({ connectionId: z.uuid(), platform: z.string(), code: z.string() }),
  /** A run succeeded after `sync.failed`. */
  'sync.recovered': z.strictObject({ connectionId: z.uuid(), platform: z.string() }),
  /** A revocation finished; its signed receipt is at `GET /v1/admin/revocations/{receiptId}`. */
  'revocation.completed': z.strictObject({
    revocationId: z.uuid(),
    /** The receipt's id: receipts are identified by their revocation. */
    receiptId: z.uuid(),
    status: z.string(),
    connectionIds: z.array(z.uuid()),
  }),
  /** An invitation was sent (e.g. to a contact, by a connector that invites). */
  'invitation.sent': z.strictObject(invitationFacts),
  /** An invitation was accepted. */
  'invitation.accepted': z.strictObject(invitationFacts),
  /** An integrity check failed (the transfer log did not chain, or was cut behind its witness). */
  'integrity.check_failed': z.strictObject({
    check: z.enum(['transfer_log_seal']),
    seq: z.number().int().min(0),
    reason: z.string().max(500),
  }),
} as const;

export type WebhookEventType = keyof typeof WEBHOOK_EVENT_SCHEMAS;
export type WebhookEventData<T extends WebhookEventType> = z.infer<(typeof WEBHOOK_EVENT_SCHEMAS)[T]>;

/** Every event type, in registry order. */
export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENT_SCHEMAS) as WebhookEventType[];

/** Whether `type` is a known event type. */
export function isWebhookEventType(type: string): type is WebhookEventType {
  return Object.hasOwn(WEBHOOK_EVENT_SCHEMAS, type);
}

/** The JSON body POSTed to an endpoint. `id` is the event id: the same on retries and replays (deduplicate on it). */
export interface WebhookPayload {
  id: string;
  type: WebhookEventType;
  createdAt: string;
  organizationId: string;
  data: Record<string, unknown>;
}

const STATUS_EVENTS = ['connection.active', 'connection.reauth_required', 'connection.paused', 'connection.revoked'] as const;
export type ConnectionStatusEventType = (typeof STATUS_EVENTS)[number];

/** The event type a connection status change is announced as (none for `pending`). */
export function connectionEventFor(status: string): ConnectionStatusEventType | null {
  return STATUS_EVENTS.find((t) => t === `connection.${status}`) ?? null;
}
