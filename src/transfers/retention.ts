import { sql } from 'kysely';
import { recordAudit } from '../audit/audit-log.ts';
import { checkpointWitness } from './checkpoint-witness.ts';
import { insertCheckpoint, type PrivacyServices } from './checkpoints.ts';
import { getSigningKey } from './signing.ts';

export interface RetentionResult {
  cutoff: Date;
  organizations: Array<{
    organizationId: string;
    removedRows: number;
    throughSeq: number;
    anchorCheckpointId: string;
    /** Stored subject sets (migration 0008) no retained row names any more, removed with the rows. */
    removedSubjectSets: number;
  }>;
}

/**
 * Removes transfer-log rows older than TRANSFER_LOG_RETENTION_DAYS (default 6 years), per
 * organization, as a contiguous prefix of its chain, and keeps the rest verifiable:
 *
 * 1. find the last seq M created before the cutoff and its hash;
 * 2. in ONE transaction: `SET LOCAL casebridge.retention = 'on'` (the only way past the append-only
 *    trigger, scoped to this transaction), sign and store a `retention` checkpoint (tree size M,
 *    hash of row M), delete rows seq ≤ M, delete the subject sets created before the cutoff that no
 *    retained row names any more, and record the removal in the audit log.
 *
 * `verifyTransferLog` then starts from the oldest retained row (seq M + 1) and accepts its prev_hash
 * because a signed checkpoint at M vouches for it. The maintenance queue runs this daily.
 */
export async function enforceRetention(services: PrivacyServices, options: { now?: Date; organizationId?: string } = {}): Promise<RetentionResult> {
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - services.config.TRANSFER_LOG_RETENTION_DAYS * 86_400_000);
  const key = getSigningKey(services.config);
  const witness = checkpointWitness(services.config);
  const result: RetentionResult = { cutoff, organizations: [] };
  let orgs = services.db.selectFrom('transfer_log_heads').select('organization_id');
  if (options.organizationId) orgs = orgs.where('organization_id', '=', options.organizationId);
  for (const { organization_id: organizationId } of await orgs.execute()) {
    const last = await services.db
      .selectFrom('transfer_log')
      .select(['seq', 'hash'])
      .where('organization_id', '=', organizationId)
      .where('created_at', '<', cutoff)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!last) continue;
    const throughSeq = Number(last.seq);
    const done = await services.db.transaction().execute(async (tx) => {
      await sql`SELECT set_config('casebridge.retention', 'on', true)`.execute(tx);
      const { id: anchorCheckpointId } = await insertCheckpoint(
        tx,
        key,
        {
          organizationId,
          seq: throughSeq,
          headHash: last.hash,
          kind: 'retention',
        },
        witness,
      );
      const removed = await tx.deleteFrom('transfer_log').where('organization_id', '=', organizationId).where('seq', '<=', throughSeq).executeTakeFirst();
      const removedRows = Number(removed.numDeletedRows);
      // A set still named by a retained row stays (the foreign key would refuse anyway); one created
      // after the cutoff may belong to a row being written right now.
      const sets = await sql`DELETE FROM transfer_subject_sets s WHERE s.organization_id = ${organizationId}
        AND s.created_at < ${cutoff}
        AND NOT EXISTS (SELECT 1 FROM transfer_log l WHERE l.organization_id = s.organization_id AND l.subjects_digest = s.digest)`.execute(tx);
      const removedSubjectSets = Number(sets.numAffectedRows ?? 0);
      await recordAudit(tx, {
        organizationId,
        actor: { kind: 'system', reason: 'retention' },
        action: 'transfer_log.retention',
        target: 'transfer_log',
        details: {
          removedRows,
          removedSubjectSets,
          throughSeq,
          cutoff: cutoff.toISOString(),
          retentionDays: services.config.TRANSFER_LOG_RETENTION_DAYS,
          anchorCheckpointId,
          anchorHash: last.hash,
        },
      });
      return { organizationId, removedRows, throughSeq, anchorCheckpointId, removedSubjectSets };
    });
    if (done.removedRows) {
      services.logger.info({ organizationId, removedRows: done.removedRows, throughSeq }, 'transfer log retention applied');
    }
    result.organizations.push(done);
  }
  return result;
}
