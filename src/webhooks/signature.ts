import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: HMAC-SHA256, keyed with the endpoint's secret (the whole `whsec_…` string as
 * UTF-8), over the exact string `<timestamp>.<raw body>` — `timestamp` being the
 * `Casebridge-Webhook-Timestamp` header (Unix seconds). Sent as
 * `Casebridge-Webhook-Signature: v1=<hex>` and, while a rotated-out secret is still valid,
 * `v1=<hex of the new secret>,v1=<hex of the previous one>`: a receiver accepts the request when any
 * `v1` value matches a secret it holds and the timestamp is recent (we suggest 5 minutes).
 */

export const HEADER_EVENT_ID = 'Casebridge-Webhook-Id';
export const HEADER_EVENT_TYPE = 'Casebridge-Webhook-Event';
export const HEADER_DELIVERY_ID = 'Casebridge-Webhook-Delivery';
export const HEADER_TIMESTAMP = 'Casebridge-Webhook-Timestamp';
export const HEADER_SIGNATURE = 'Casebridge-Webhook-Signature';

const SECRET_PREFIX = 'whsec_';

/** A new endpoint secret: `whsec_` and 32 random bytes, base64url. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** The string that is signed. */
export function signedString(timestamp: number, body: string): string {
  return `${timestamp}.${body}`;
}

/** Hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`. */
export function sign(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(signedString(timestamp, body)).digest('hex');
}

/** The signature header's value for the valid secrets (newest first). */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  return secrets.map((s) => `v1=${sign(s, timestamp, body)}`).join(',');
}

/**
 * What a receiver does (exported for tests and as a reference): true when one `v1` value of the
 * header matches `secret` and the timestamp is within `toleranceSeconds` of `now`.
 */
export function verifySignature(params: { secret: string; header: string; timestamp: string; body: string; toleranceSeconds?: number; now?: number }): boolean {
  const ts = Number(params.timestamp);
  if (!Number.isInteger(ts)) return false;
  const now = Math.floor((params.now ?? Date.now()) / 1000);
  if (Math.abs(now - ts) > (params.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(sign(params.secret, ts, params.body), 'hex');
  return params.header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.startsWith('v1='))
    .some((p) => {
      const got = Buffer.from(p.slice(3), 'hex');
      return got.length === expected.length && timingSafeEqual(got, expected);
    });
}
