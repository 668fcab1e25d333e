import type { Db, Tx } from '../db/database.ts';
import { decodeTimeIdCursor, encodeTimeIdCursor } from '../db/page-cursor.ts';

/**
 * The audit log of administrative actions (revocations, retention runs, exports, verifications):
 * who did what to what, when. Append-only like the transfer log (the same database trigger refuses
 * UPDATE and DELETE), but not hash-chained: it records decisions, not data transfers.
 */

/** Who acted: a user, the super administrator, a job, an API key, or the system itself. */
export type AuditActor =
  | { kind: 'user'; userId: string }
  | { kind: 'super_admin' }
  | { kind: 'job'; jobId: string; queue: string }
  | { kind: 'api_key'; apiKeyId: string }
  | { kind: 'system'; reason: string };

export interface AuditEntry {
  /** null for deployment-wide actions (e.g. a platform revoked for every organization). */
  organizationId: string | null;
  actor: AuditActor;
  /** Dotted verb, e.g. `connection.revoke`, `transfer_log.retention`, `transfers.export`. */
  action: string;
  /** What it acted on, e.g. `connection:<id>`, `user:<id>`, `platform:google_calendar`. */
  target?: string | null;
  /** Facts worth keeping (counts, reasons); never secrets or personal data beyond ids. */
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'target'>> {
  id: string;
  target: string | null;
  createdAt: Date;
}

/** Appends one audit entry (inside the caller's transaction when given one). */
export async function recordAudit(db: Db | Tx, entry: AuditEntry): Promise<AuditRecord> {
  const row = await db
    .insertInto('audit_log')
    .values({
      organization_id: entry.organizationId,
      actor: JSON.stringify(entry.actor),
      action: entry.action,
      target: entry.target ?? null,
      details: JSON.stringify(entry.details ?? {}),
      // Millisecond precision set here, so the (created_at, id) page cursor round-trips exactly.
      created_at: new Date(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRecord(row);
}

function toRecord(row: {
  id: string;
  organization_id: string | null;
  actor: Record<string, unknown>;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  created_at: Date;
}): AuditRecord {
  return {
    id: row.id,
    organizationId: row.organization_id,
    actor: row.actor as AuditActor,
    action: row.action,
    target: row.target,
    details: row.details,
    createdAt: row.created_at,
  };
}

/** A page of an organization's audit entries, newest first; `cursor` is the last page's `nextCursor`. */
export async function listAudit(
  db: Db,
  params: { organizationId: string; action?: string; target?: string; from?: Date; to?: Date; limit: number; cursor?: string },
): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
  let q = db.selectFrom('audit_log').selectAll().where('organization_id', '=', params.organizationId);
  if (params.action) q = q.where('action', '=', params.action);
  if (params.target) q = q.where('target', '=', params.target);
  if (params.from) q = q.where('created_at', '>=', params.from);
  if (params.to) q = q.where('created_at', '<', params.to);
  const cursor = params.cursor ? decodeAuditCursor(params.cursor) : null;
  if (cursor) {
    q = q.where((eb) => eb.or([eb('created_at', '<', cursor.at), eb.and([eb('created_at', '=', cursor.at), eb('id', '<', cursor.id)])]));
  }
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(params.limit + 1)
    .execute();
  const items = rows.slice(0, params.limit).map(toRecord);
  const last = items[items.length - 1];
  return {
    items,
    nextCursor: rows.length > params.limit && last ? encodeTimeIdCursor(last.createdAt, last.id) : null,
  };
}

/** Decodes an audit cursor; null when it is not one this API returned (the route answers 400 `invalid_cursor`). */
export const decodeAuditCursor = decodeTimeIdCursor;
