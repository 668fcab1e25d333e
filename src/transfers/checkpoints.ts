import type { Config } from '../config/load.ts';
import type { Db, Tx } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { canonicalJson } from './canonical.ts';
import { getSigningKey, type JwsType, type SigningKey, signJws } from './signing.ts';

/** What the privacy maintenance functions need from the process's services. */
export interface PrivacyServices {
  db: Db;
  config: Pick<Config, 'AUDIT_SIGNING_KEY' | 'DATA_DIR' | 'NODE_ENV' | 'TRANSFER_LOG_RETENTION_DAYS'>;
  logger: Logger;
}

export type CheckpointKind = 'periodic' | 'retention' | 'manual';

/** The `typ` of a checkpoint's JWS. */
export const CHECKPOINT_JWS_TYPE: JwsType = 'transfer-log-checkpoint+jws';

/**
 * What a checkpoint states (format 2, the payload of its JWS; the key id is the JWS's `kid`): after
 * `treeSize` rows the organization's chain head was `headHash`. Checkpoints are sealed as JWS by
 * {@link insertCheckpoint}; `transfers verify` and any JOSE tool check them.
 */
export interface CheckpointStatement {
  type: 'casebridge.transfer-log.checkpoint';
  version: 2;
  organizationId: string;
  treeSize: number;
  headHash: string;
  sealedAt: string;
  kind: CheckpointKind;
}

/** The statement of a checkpoint row (what its JWS must carry). */
export function checkpointStatement(c: { organizationId: string; seq: number; headHash: string; sealedAt: Date; kind: CheckpointKind }): CheckpointStatement {
  return {
    type: 'casebridge.transfer-log.checkpoint',
    version: 2,
    organizationId: c.organizationId,
    treeSize: c.seq,
    headHash: c.headHash,
    sealedAt: c.sealedAt.toISOString(),
    kind: c.kind,
  };
}

/** The exact bytes a format-1 checkpoint signature covers (rows sealed before migration 0013). */
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

/** Signs (JWS) and stores one checkpoint (inside the caller's transaction when given one); returns its id and JWS. */
export async function insertCheckpoint(
  db: Db | Tx,
  key: SigningKey,
  c: { organizationId: string; seq: number; headHash: string; kind: CheckpointKind },
): Promise<{ id: string; jws: string }> {
  const sealedAt = new Date();
  const jws = await signJws(key, checkpointStatement({ ...c, sealedAt }), CHECKPOINT_JWS_TYPE);
  const row = await db
    .insertInto('transfer_log_checkpoints')
    .values({
      organization_id: c.organizationId,
      seq: c.seq,
      head_hash: c.headHash,
      kind: c.kind,
      key_id: key.keyId,
      jws,
      sealed_at: sealedAt,
    })
    .onConflict((oc) => oc.columns(['organization_id', 'seq', 'kind']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return { id: row?.id ?? '', jws };
}

export interface SealResult {
  /** Each checkpoint made, with its JWS (verifiable with the published JWK alone). */
  sealed: Array<{ organizationId: string; seq: number; headHash: string; jws: string }>;
  /** Organizations whose head no longer matches the row it points at (tampering or corruption). */
  refused: Array<{ organizationId: string; seq: number; reason: string }>;
}

/**
 * Seals every organization's chain whose head moved since its last checkpoint: a JWS (EdDSA) of
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
    const { jws } = await insertCheckpoint(services.db, key, {
      organizationId: head.organization_id,
      seq: Number(head.seq),
      headHash: head.hash,
      kind: options.kind ?? 'periodic',
    });
    result.sealed.push({ organizationId: head.organization_id, seq: Number(head.seq), headHash: head.hash, jws });
  }
  return result;
}
