import type { Config } from '../config/load.ts';
import type { Db, Tx } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { canonicalJson } from './canonical.ts';
import { getSigningKey, type SigningKey, signBytes } from './signing.ts';

/** What the privacy maintenance functions need from the process's services. */
export interface PrivacyServices {
  db: Db;
  config: Pick<Config, 'AUDIT_SIGNING_KEY' | 'DATA_DIR' | 'NODE_ENV' | 'TRANSFER_LOG_RETENTION_DAYS'>;
  logger: Logger;
}

export type CheckpointKind = 'periodic' | 'retention' | 'manual';

/** The exact bytes a checkpoint signature covers. */
export function checkpointMessage(c: {
  organizationId: string;
  seq: number;
  headHash: string;
  sealedAt: Date;
  kind: CheckpointKind;
  keyId: string;
}): string {
  return canonicalJson({
    type: 'casebridge.transfer-log.checkpoint.v1',
    organizationId: c.organizationId,
    treeSize: c.seq,
    headHash: c.headHash,
    sealedAt: c.sealedAt.toISOString(),
    kind: c.kind,
    keyId: c.keyId,
  });
}

/** Signs and stores one checkpoint (inside the caller's transaction when given one). */
export async function insertCheckpoint(
  db: Db | Tx,
  key: SigningKey,
  c: { organizationId: string; seq: number; headHash: string; kind: CheckpointKind },
): Promise<string> {
  const sealedAt = new Date();
  const signature = signBytes(key, checkpointMessage({ ...c, sealedAt, keyId: key.keyId }));
  const row = await db
    .insertInto('transfer_log_checkpoints')
    .values({
      organization_id: c.organizationId,
      seq: c.seq,
      head_hash: c.headHash,
      kind: c.kind,
      key_id: key.keyId,
      signature,
      sealed_at: sealedAt,
    })
    .onConflict((oc) => oc.columns(['organization_id', 'seq', 'kind']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row?.id ?? '';
}

export interface SealResult {
  sealed: Array<{ organizationId: string; seq: number; headHash: string }>;
  /** Organizations whose head no longer matches the row it points at (tampering or corruption). */
  refused: Array<{ organizationId: string; seq: number; reason: string }>;
}

/**
 * Seals every organization's chain whose head moved since its last checkpoint: an Ed25519-signed
 * (tree size, head hash, time). The maintenance queue runs it every CHECKPOINT_INTERVAL_MINUTES; a
 * row changed after it was sealed no longer matches the checkpoint, even if its hash was recomputed.
 */
export async function sealCheckpoints(
  services: PrivacyServices,
  options: { organizationId?: string; kind?: CheckpointKind } = {},
): Promise<SealResult> {
  const key = getSigningKey(services.config);
  let heads = services.db.selectFrom('transfer_log_heads').select(['organization_id', 'seq', 'hash']).where('seq', '>', 0);
  if (options.organizationId) heads = heads.where('organization_id', '=', options.organizationId);
  const result: SealResult = { sealed: [], refused: [] };
  for (const head of await heads.execute()) {
    const last = await services.db
      .selectFrom('transfer_log_checkpoints')
      .select('seq')
      .where('organization_id', '=', head.organization_id)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (last && Number(last.seq) >= Number(head.seq)) continue;
    const row = await services.db
      .selectFrom('transfer_log')
      .select('hash')
      .where('organization_id', '=', head.organization_id)
      .where('seq', '=', head.seq)
      .executeTakeFirst();
    if (!row || row.hash !== head.hash) {
      const reason = row ? 'head row hash differs from the chain head' : 'head row missing';
      services.logger.error({ organizationId: head.organization_id, seq: head.seq, reason }, 'transfer log not sealed: run transfers verify');
      result.refused.push({ organizationId: head.organization_id, seq: Number(head.seq), reason });
      continue;
    }
    await insertCheckpoint(services.db, key, {
      organizationId: head.organization_id,
      seq: Number(head.seq),
      headHash: head.hash,
      kind: options.kind ?? 'periodic',
    });
    result.sealed.push({ organizationId: head.organization_id, seq: Number(head.seq), headHash: head.hash });
  }
  return result;
}
