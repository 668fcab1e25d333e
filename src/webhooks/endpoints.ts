import type { Selectable } from 'kysely';
import { open, parseKeyring, seal } from '../connections/token-vault.ts';
import type { Db } from '../db/database.ts';
import { decodeTimeIdCursor, encodeTimeIdCursor } from '../db/page-cursor.ts';
import type { WebhookEndpointsTable } from '../db/types.ts';
import { NotFoundError } from '../errors/index.ts';
import { WebhooksError } from './errors.ts';
import { isWebhookEventType, type WebhookEventType } from './events.ts';
import { checkWebhookUrl } from './sender.ts';
import { newWebhookSecret } from './signature.ts';

/**
 * Webhook endpoints of an organization: create, list, read, delete, rotate the secret. A secret is
 * generated here, returned once (by create and rotate) and stored sealed with the token keyring
 * (AES-256-GCM, TOKEN_ENCRYPTION_KEYS, AAD `webhook:<endpoint id>`), so a database dump holds no
 * usable secret. Every query is scoped to the caller's organization; another one's ids are 404.
 */

export interface WebhookEndpointView {
  id: string;
  url: string;
  description: string | null;
  /** Event types delivered; null = every type. */
  events: WebhookEventType[] | null;
  /** Until when the previous secret still signs (after a rotation), else null. */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

type EndpointRow = Selectable<WebhookEndpointsTable>;

export interface WebhookDeps {
  db: Db;
  config: { TOKEN_ENCRYPTION_KEYS?: string; WEBHOOK_ALLOW_PRIVATE_ADDRESSES: boolean; WEBHOOK_SECRET_OVERLAP_HOURS: number };
}

/** Live endpoints an organization may have. */
export const MAX_ENDPOINTS_PER_ORGANIZATION = 20;

const aad = (endpointId: string) => `webhook:${endpointId}`;

function keyring(config: WebhookDeps['config']) {
  if (!config.TOKEN_ENCRYPTION_KEYS) throw new WebhooksError('webhook_secrets_unavailable', 'TOKEN_ENCRYPTION_KEYS is not configured');
  return parseKeyring(config.TOKEN_ENCRYPTION_KEYS);
}

function view(row: EndpointRow, now = new Date()): WebhookEndpointView {
  const prev = row.previous_secret_expires_at && row.previous_secret_expires_at > now ? row.previous_secret_expires_at.toISOString() : null;
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: (row.event_types ?? null) as WebhookEventType[] | null,
    previousSecretExpiresAt: prev,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function checkEvents(events: readonly string[] | null | undefined): WebhookEventType[] | null {
  if (!events) return null;
  const unknown = events.filter((e) => !isWebhookEventType(e));
  if (unknown.length) throw new WebhooksError('unknown_event_type', `unknown event type(s): ${unknown.slice(0, 5).join(', ')}`, { unknown });
  return [...new Set(events)] as WebhookEventType[];
}

async function checkUrl(deps: WebhookDeps, url: string): Promise<void> {
  const refused = await checkWebhookUrl(url, { allowPrivate: deps.config.WEBHOOK_ALLOW_PRIVATE_ADDRESSES });
  if (refused) throw new WebhooksError(refused.code, refused.message);
}

/** Creates an endpoint; the answer carries its secret, the only time it is shown. */
export async function createWebhookEndpoint(
  deps: WebhookDeps,
  params: { organizationId: string; createdBy: string | null; url: string; description?: string | null; events?: string[] | null },
): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
  const events = checkEvents(params.events);
  await checkUrl(deps, params.url);
  const live = await deps.db
    .selectFrom('webhook_endpoints')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('organization_id', '=', params.organizationId)
    .where('deleted_at', 'is', null)
    .executeTakeFirstOrThrow();
  // Each event is POSTed once per endpoint: a bound keeps one organization from multiplying the work.
  if (Number(live.n) >= MAX_ENDPOINTS_PER_ORGANIZATION) {
    throw new WebhooksError('webhook_endpoint_limit', `an organization has at most ${MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints; delete one first`);
  }
  const ring = keyring(deps.config);
  const secret = newWebhookSecret();
  const row = await deps.db.transaction().execute(async (tx) => {
    const inserted = await tx
      .insertInto('webhook_endpoints')
      .values({
        organization_id: params.organizationId,
        url: params.url,
        description: params.description ?? null,
        event_types: JSON.stringify(events),
        created_by: params.createdBy,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const sealed = seal(ring, secret, aad(inserted.id));
    return tx
      .updateTable('webhook_endpoints')
      .set({ secret_key_id: sealed.keyId, secret_ciphertext: sealed.ciphertext })
      .where('id', '=', inserted.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
  return { endpoint: view(row), secret };
}

/** A page of the organization's live endpoints, newest first. */
export async function listWebhookEndpoints(
  db: Db,
  params: { organizationId: string; limit: number; cursor?: string },
): Promise<{ items: WebhookEndpointView[]; nextCursor: string | null }> {
  let q = db.selectFrom('webhook_endpoints').selectAll().where('organization_id', '=', params.organizationId).where('deleted_at', 'is', null);
  const cursor = params.cursor ? decodeTimeIdCursor(params.cursor) : null;
  if (params.cursor && !cursor) throw new WebhooksError('invalid_cursor', 'the cursor is not one this API returned');
  if (cursor) q = q.where((eb) => eb.or([eb('created_at', '<', cursor.at), eb.and([eb('created_at', '=', cursor.at), eb('id', '<', cursor.id)])]));
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(params.limit + 1)
    .execute();
  const page = rows.slice(0, params.limit);
  const last = page[page.length - 1];
  return { items: page.map((r) => view(r)), nextCursor: rows.length > params.limit && last ? encodeTimeIdCursor(last.created_at, last.id) : null };
}

async function liveEndpoint(db: Db, organizationId: string, id: string) {
  const row = await db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('id', '=', id)
    .where('organization_id', '=', organizationId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('webhook endpoint');
  return row;
}

export async function getWebhookEndpoint(db: Db, params: { organizationId: string; id: string }): Promise<WebhookEndpointView> {
  return view(await liveEndpoint(db, params.organizationId, params.id));
}

/**
 * Deletes an endpoint: its secrets are shredded, its pending deliveries cancelled; the row and its
 * delivery log stay readable to nobody but the database (the API lists live endpoints only).
 */
export async function deleteWebhookEndpoint(db: Db, params: { organizationId: string; id: string }): Promise<void> {
  await liveEndpoint(db, params.organizationId, params.id);
  await db.transaction().execute(async (tx) => {
    await tx
      .updateTable('webhook_endpoints')
      .set({
        deleted_at: new Date(),
        updated_at: new Date(),
        secret_key_id: null,
        secret_ciphertext: null,
        previous_secret_key_id: null,
        previous_secret_ciphertext: null,
        previous_secret_expires_at: null,
      })
      .where('id', '=', params.id)
      .execute();
    await tx
      .updateTable('webhook_deliveries')
      .set({ status: 'cancelled', next_attempt_at: null })
      .where('endpoint_id', '=', params.id)
      .where('status', '=', 'pending')
      .execute();
  });
}

/**
 * Rotates the secret: a new one signs from now on; the current one keeps signing beside it for
 * `overlapHours` (default WEBHOOK_SECRET_OVERLAP_HOURS), so the receiver can switch without a gap.
 * Rotating again within the window drops the older previous secret.
 */
export async function rotateWebhookSecret(
  deps: WebhookDeps,
  params: { organizationId: string; id: string; overlapHours?: number },
): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
  const row = await liveEndpoint(deps.db, params.organizationId, params.id);
  const ring = keyring(deps.config);
  const secret = newWebhookSecret();
  const sealed = seal(ring, secret, aad(row.id));
  const hours = params.overlapHours ?? deps.config.WEBHOOK_SECRET_OVERLAP_HOURS;
  const updated = await deps.db
    .updateTable('webhook_endpoints')
    .set({
      secret_key_id: sealed.keyId,
      secret_ciphertext: sealed.ciphertext,
      previous_secret_key_id: hours > 0 ? row.secret_key_id : null,
      previous_secret_ciphertext: hours > 0 ? row.secret_ciphertext : null,
      previous_secret_expires_at: hours > 0 ? new Date(Date.now() + hours * 3600_000) : null,
      updated_at: new Date(),
    })
    .where('id', '=', row.id)
    // Two concurrent rotations: the second one rotates the first one's secret, never a stale one.
    .where('secret_ciphertext', '=', row.secret_ciphertext)
    .returningAll()
    .executeTakeFirst();
  if (!updated) throw new WebhooksError('webhook_rotation_conflict', 'the secret was rotated concurrently; try again');
  return { endpoint: view(updated), secret };
}

/** The secrets that sign a delivery now, newest first (the previous one while its window lasts). */
export function signingSecrets(
  config: WebhookDeps['config'],
  row: Pick<EndpointRow, 'id' | 'secret_key_id' | 'secret_ciphertext' | 'previous_secret_key_id' | 'previous_secret_ciphertext' | 'previous_secret_expires_at'>,
  now = new Date(),
): string[] {
  if (!row.secret_key_id || !row.secret_ciphertext) return [];
  const ring = keyring(config);
  const out = [open(ring, { keyId: row.secret_key_id, ciphertext: row.secret_ciphertext }, aad(row.id))];
  if (row.previous_secret_key_id && row.previous_secret_ciphertext && row.previous_secret_expires_at && row.previous_secret_expires_at > now) {
    out.push(open(ring, { keyId: row.previous_secret_key_id, ciphertext: row.previous_secret_ciphertext }, aad(row.id)));
  }
  return out;
}

/**
 * Re-seals every stored webhook secret (current and previous) under the newest TOKEN_ENCRYPTION_KEYS
 * key, for `casebridge keys rotate`. A secret whose key is no longer listed is reported, not lost
 * silently: rotate that endpoint's secret.
 */
export async function resealWebhookSecrets(
  deps: WebhookDeps,
): Promise<{ resealed: number; total: number; failed: Array<{ endpointId: string; code: string }> }> {
  const ring = keyring(deps.config);
  const rows = await deps.db.selectFrom('webhook_endpoints').selectAll().where('secret_ciphertext', 'is not', null).execute();
  const result = { resealed: 0, total: rows.length, failed: [] as Array<{ endpointId: string; code: string }> };
  for (const row of rows) {
    try {
      const reseal = (keyId: string | null, ciphertext: string | null) =>
        keyId && ciphertext && keyId !== ring.current.id ? seal(ring, open(ring, { keyId, ciphertext }, aad(row.id)), aad(row.id)) : null;
      const current = reseal(row.secret_key_id, row.secret_ciphertext);
      const previous = reseal(row.previous_secret_key_id, row.previous_secret_ciphertext);
      if (!current && !previous) continue;
      await deps.db
        .updateTable('webhook_endpoints')
        .set({
          ...(current ? { secret_key_id: current.keyId, secret_ciphertext: current.ciphertext } : {}),
          ...(previous ? { previous_secret_key_id: previous.keyId, previous_secret_ciphertext: previous.ciphertext } : {}),
        })
        .where('id', '=', row.id)
        .where('secret_ciphertext', '=', row.secret_ciphertext)
        .execute();
      result.resealed++;
    } catch (err) {
      result.failed.push({ endpointId: row.id, code: (err as { code?: string }).code ?? 'error' });
    }
  }
  return result;
}
