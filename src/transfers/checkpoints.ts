import { createHash } from 'node:crypto';
import type { Config } from '../config/load.ts';
import type { Db, Tx } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { emitWebhookEvent } from '../webhooks/outbox.ts';
import { canonicalJson } from './canonical.ts';
import { type CheckpointKind, type CheckpointWitness, checkpointWitness } from './checkpoint-witness.ts';
import { GENESIS_HASH, hashEntry, rowToEntry } from './log-entry.ts';
import { getSigningKey, type JwsType, type SigningKey, signJws } from './signing.ts';

/** What the privacy maintenance functions need from the process's services. */
export interface PrivacyServices {
  db: Db;
  config: Pick<Config, 'AUDIT_SIGNING_KEY' | 'DATA_DIR' | 'NODE_ENV' | 'TRANSFER_LOG_RETENTION_DAYS'> & Partial<Pick<Config, 'CHECKPOINT_WITNESS_DIR'>>;
  logger: Logger;
}

export type { CheckpointKind } from './checkpoint-witness.ts';

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
export function checkpointMessage(c: { organizationId: string; seq: number; headHash: string; sealedAt: Date; kind: CheckpointKind; keyId: string }): string {
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

/**
 * Signs (JWS) and stores one checkpoint (inside the caller's transaction when given one), returning its id and JWS, and writes it to
 * the witness outside the database first: a checkpoint the database has is always witnessed (one the
 * witness has and a rolled-back transaction lost is harmless — it still matches the rows it sealed).
 */
export async function insertCheckpoint(
  db: Db | Tx,
  key: SigningKey,
  c: { organizationId: string; seq: number; headHash: string; kind: CheckpointKind },
  witness?: CheckpointWitness,
): Promise<{ id: string; jws: string }> {
  const sealedAt = new Date();
  const jws = await signJws(key, checkpointStatement({ ...c, sealedAt }), CHECKPOINT_JWS_TYPE);
  await witness?.put({
    organizationId: c.organizationId.toLowerCase(),
    seq: c.seq,
    headHash: c.headHash,
    kind: c.kind,
    keyId: key.keyId,
    jws,
    sealedAt: sealedAt.toISOString(),
  });
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
  /** Organizations whose chain is broken between their last checkpoint and the head, or cut behind the witness. */
  refused: Array<{ organizationId: string; seq: number; reason: string }>;
}

/** Rows read per page while checking the unsealed part of a chain. */
const SEAL_PAGE = 5000;

/**
 * Seals every organization's chain whose head moved since its last checkpoint: a JWS (EdDSA) of
 * (tree size, head hash, time), stored in the database and written to the witness. The maintenance
 * queue runs it every CHECKPOINT_INTERVAL_MINUTES (default 1). Before signing, it checks what it
 * vouches for and refuses (naming why) when:
 * - the witness holds a checkpoint beyond the head, or one whose row differs (the tail was cut and the
 *   head rewound, or sealed rows were rewritten);
 * - the rows from the last checkpoint to the head do not chain: a row that does not hash to its stored
 *   hash, a prev_hash that is not the previous row's hash, a gap, or a head that is not the last row.
 */
export async function sealCheckpoints(services: PrivacyServices, options: { organizationId?: string; kind?: CheckpointKind } = {}): Promise<SealResult> {
  const key = getSigningKey(services.config);
  const witness = checkpointWitness(services.config);
  let heads = services.db.selectFrom('transfer_log_heads').select(['organization_id', 'seq', 'hash']).where('seq', '>', 0);
  if (options.organizationId) heads = heads.where('organization_id', '=', options.organizationId);
  const result: SealResult = { sealed: [], refused: [] };
  for (const head of await heads.execute()) {
    const headSeq = Number(head.seq);
    const last = await services.db
      .selectFrom('transfer_log_checkpoints')
      .select(['seq', 'head_hash'])
      .where('organization_id', '=', head.organization_id)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    const witnessed = (await witness.list(head.organization_id)).filter((c) => c.keyId === key.keyId);
    const newestWitnessed = witnessed[witnessed.length - 1];
    let reason: string | null = null;
    if (newestWitnessed && newestWitnessed.seq > headSeq) {
      reason = `the witness holds a checkpoint at seq ${newestWitnessed.seq} beyond the head (seq ${headSeq}): rows ${headSeq + 1}..${newestWitnessed.seq} were cut`;
    }
    if (!reason && last && Number(last.seq) >= headSeq) continue;
    reason ??= await chainProblem(
      services,
      head.organization_id,
      { seq: headSeq, hash: head.hash },
      last ? { seq: Number(last.seq), hash: last.head_hash } : null,
      newestWitnessed,
    );
    if (reason) {
      services.logger.error({ organizationId: head.organization_id, seq: headSeq, reason }, 'transfer log not sealed: run transfers verify');
      result.refused.push({ organizationId: head.organization_id, seq: headSeq, reason });
      // The platform hears of it once per (head, reason), not at every sealing run.
      await emitWebhookEvent(services.db, {
        organizationId: head.organization_id,
        type: 'integrity.check_failed',
        data: { check: 'transfer_log_seal', seq: headSeq, reason: reason.slice(0, 500) },
        dedupKey: `integrity.transfer_log_seal:${headSeq}:${createHash('sha256').update(reason).digest('hex').slice(0, 16)}`,
      }).catch((err: unknown) =>
        // Sealing the other organizations matters more; the next run tries the event again (same dedup key).
        services.logger.error({ err, organizationId: head.organization_id }, 'integrity.check_failed webhook not recorded'),
      );
      continue;
    }
    const { jws } = await insertCheckpoint(
      services.db,
      key,
      { organizationId: head.organization_id, seq: headSeq, headHash: head.hash, kind: options.kind ?? 'periodic' },
      witness,
    );
    result.sealed.push({ organizationId: head.organization_id, seq: headSeq, headHash: head.hash, jws });
  }
  return result;
}

/**
 * Checks the rows after the last checkpoint up to the head (and the newest witnessed checkpoint's row):
 * null when they chain, else what is wrong.
 */
async function chainProblem(
  services: PrivacyServices,
  organizationId: string,
  head: { seq: number; hash: string },
  checkpoint: { seq: number; hash: string } | null,
  witnessed: { seq: number; headHash: string } | undefined,
): Promise<string | null> {
  const { db } = services;
  if (witnessed && witnessed.seq <= head.seq) {
    const row = await db
      .selectFrom('transfer_log')
      .select('hash')
      .where('organization_id', '=', organizationId)
      .where('seq', '=', witnessed.seq)
      .executeTakeFirst();
    // A row purged by retention is gone legitimately; the retention checkpoint anchors what follows.
    if (row && row.hash !== witnessed.headHash) return `row ${witnessed.seq} differs from what the witnessed checkpoint sealed`;
  }
  let prev: { seq: number; hash: string } | null = null;
  if (checkpoint) {
    const row = await db
      .selectFrom('transfer_log')
      .select('hash')
      .where('organization_id', '=', organizationId)
      .where('seq', '=', checkpoint.seq)
      .executeTakeFirst();
    if (row && row.hash !== checkpoint.hash) return `row ${checkpoint.seq} differs from what the last checkpoint sealed`;
    prev = checkpoint;
  }
  let after = prev?.seq ?? 0;
  for (;;) {
    const rows = await db
      .selectFrom('transfer_log')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('seq', '>', after)
      .where('seq', '<=', head.seq)
      .orderBy('seq')
      .limit(SEAL_PAGE)
      .execute();
    for (const raw of rows) {
      const row = rowToEntry(raw);
      if (prev && row.seq !== prev.seq + 1) return `rows ${prev.seq + 1}..${row.seq - 1} are missing`;
      if (!prev && row.seq === 1 && row.prevHash !== GENESIS_HASH) return 'the first row does not chain from the genesis hash';
      if (prev && row.prevHash !== prev.hash) return `row ${row.seq} does not chain from row ${prev.seq}`;
      if (hashEntry(row.prevHash, row) !== row.hash) return `row ${row.seq} was changed after it was written`;
      prev = { seq: row.seq, hash: row.hash };
    }
    if (rows.length < SEAL_PAGE) break;
    after = Number(rows[rows.length - 1]!.seq);
  }
  if (!prev || prev.seq !== head.seq) return `rows ${(prev?.seq ?? 0) + 1}..${head.seq} are missing before the head`;
  if (prev.hash !== head.hash) return `the head (seq ${head.seq}) records another hash than its row`;
  return null;
}
