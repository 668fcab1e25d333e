import type { Db, Tx } from '../db/database.ts';
import { decodeTimeIdCursor, encodeTimeIdCursor } from '../db/page-cursor.ts';

/**
 * The security event log: sign-in successes and failures (with the reason code), logouts, sessions
 * ended by an administrator, role and status changes. Administrators of the organization can query
 * it. Events never carry tokens, assertions or cookies — only codes, ids and short facts.
 */

/** The kinds this module's callers write; other modules add their own (e.g. `revocation.requested`). */
export type SecurityEventKind =
  | 'login'
  | 'logout'
  | 'session_ended_by_admin'
  | 'user_updated'
  | 'saml_config_updated'
  | 'sign_in_policy_updated'
  // `string & {}` keeps autocompletion of the known kinds while allowing others.
  | (string & {});

export interface SecurityEventInput {
  /** null when a failed login could not be tied to an organization. */
  organizationId: string | null;
  userId?: string | null;
  /** The administrator who acted, for admin actions. */
  actorUserId?: string | null;
  kind: SecurityEventKind;
  outcome: 'success' | 'failure';
  /** Stable snake_case reason (the API error code for failures). */
  reason?: string | null;
  /** How: `google`, `saml`, `admin`... */
  method?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
}

export interface SecurityEvent {
  id: string;
  organizationId: string | null;
  userId: string | null;
  actorUserId: string | null;
  kind: string;
  outcome: 'success' | 'failure';
  reason: string | null;
  method: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
  createdAt: Date;
}

/** Appends one security event (inside the caller's transaction when given one). */
export async function recordSecurityEvent(db: Db | Tx, event: SecurityEventInput): Promise<string> {
  const row = await db
    .insertInto('security_events')
    .values({
      organization_id: event.organizationId,
      user_id: event.userId ?? null,
      actor_user_id: event.actorUserId ?? null,
      kind: event.kind,
      outcome: event.outcome,
      reason: event.reason ?? null,
      method: event.method ?? null,
      ip: event.ip ?? null,
      // Bounded: the header is attacker-controlled.
      user_agent: event.userAgent ? event.userAgent.slice(0, 512) : null,
      details: JSON.stringify(event.details ?? {}),
      created_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export interface SecurityEventQuery {
  organizationId: string;
  kind?: string;
  outcome?: 'success' | 'failure';
  userId?: string;
  /** Only events strictly older than this cursor (from a previous page's `nextCursor`). */
  cursor?: string;
  limit: number;
}

/** A page of an organization's events, newest first, with a cursor for the next page. */
export async function listSecurityEvents(db: Db, q: SecurityEventQuery): Promise<{ events: SecurityEvent[]; nextCursor: string | null }> {
  let query = db.selectFrom('security_events').selectAll().where('organization_id', '=', q.organizationId);
  if (q.kind) query = query.where('kind', '=', q.kind);
  if (q.outcome) query = query.where('outcome', '=', q.outcome);
  if (q.userId) query = query.where('user_id', '=', q.userId);
  const cursor = q.cursor ? decodeCursor(q.cursor) : null;
  if (cursor) {
    query = query.where((eb) => eb.or([eb('created_at', '<', cursor.at), eb.and([eb('created_at', '=', cursor.at), eb('id', '<', cursor.id)])]));
  }
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit + 1)
    .execute();
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    events: page.map((r) => ({
      id: r.id,
      organizationId: r.organization_id,
      userId: r.user_id,
      actorUserId: r.actor_user_id,
      kind: r.kind,
      outcome: r.outcome,
      reason: r.reason,
      method: r.method,
      ip: r.ip,
      userAgent: r.user_agent,
      details: r.details,
      createdAt: r.created_at,
    })),
    nextCursor: rows.length > q.limit && last ? encodeTimeIdCursor(last.created_at, last.id) : null,
  };
}

/** Decodes an events cursor; null when it is not one this API returned (the route answers 400 `invalid_cursor`). */
export const decodeCursor = decodeTimeIdCursor;
