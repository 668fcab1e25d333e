import type { Db } from '../db/database.ts';
import { nextTimeIdCursor, type TimeIdCursor, timeIdKeyset } from '../db/page-cursor.ts';
import type { RevocationTarget } from './service.ts';

/** One revocation as its organization's list shows it. */
export interface RevocationSummary {
  id: string;
  target: RevocationTarget;
  reason: string;
  status: 'in_progress' | 'completed' | 'completed_with_calls_in_flight' | 'completed_with_errors';
  purgeRemote: boolean;
  connections: number;
  requestedAt: string;
  completedAt: string | null;
}

/** A page of an organization's revocations, newest first. */
export async function listRevocations(
  db: Db,
  params: { organizationId: string; limit: number; cursor: TimeIdCursor | null },
): Promise<{ items: RevocationSummary[]; nextCursor: string | null }> {
  const keyset = timeIdKeyset('revocations');
  let q = db
    .selectFrom('revocations')
    .select(['id', 'target', 'reason', 'status', 'purge_remote', 'created_at', 'completed_at', 'connection_ids'])
    .where('organization_id', '=', params.organizationId);
  if (params.cursor) q = q.where(keyset.after(params.cursor));
  const rows = await q
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(params.limit + 1)
    .execute();
  return {
    items: rows.slice(0, params.limit).map((r) => ({
      id: r.id,
      target: r.target as RevocationTarget,
      reason: r.reason,
      status: r.status as RevocationSummary['status'],
      purgeRemote: r.purge_remote,
      connections: (r.connection_ids as string[]).length,
      requestedAt: r.created_at.toISOString(),
      completedAt: r.completed_at?.toISOString() ?? null,
    })),
    nextCursor: nextTimeIdCursor(rows, params.limit),
  };
}
