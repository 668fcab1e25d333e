import type { Selectable } from 'kysely';
import type { TransferLogCheckpointsTable } from '../db/types.ts';
import { checkpointWitness, type WitnessedCheckpoint } from './checkpoint-witness.ts';
import { CHECKPOINT_JWS_TYPE, type CheckpointKind, checkpointMessage, checkpointStatement, type PrivacyServices } from './checkpoints.ts';
import { canonicalJson, sha256Hex } from './canonical.ts';
import { type ChainedEntry, GENESIS_HASH, hashEntry, rowToEntry } from './log-entry.ts';
import { getSigningKey, jcs, type SigningKey, verifyBytes, verifyJws } from './signing.ts';

/**
 * Recomputes the transfer log's hash chains and checkpoint signatures.
 *
 * Per organization, in seq order:
 * - the first retained row chains from the genesis hash (seq 1) or from a signed checkpoint at
 *   seq − 1 whose head hash is the row's prev_hash (written by the retention job before it purged);
 * - each row's hash equals SHA-256(prev_hash || canonical row) → else `hash_mismatch` (edited row);
 * - each row's prev_hash equals the previous row's hash → else the previous row was rewritten with a
 *   recomputed hash (`row_rewritten`, naming that previous row); a seq gap is `rows_missing`;
 * - every checkpoint inside the retained range matches the row at its seq and its signature verifies;
 *   checkpoints beyond the last row mean rows were cut off the end (`rows_missing`);
 * - every subject set a row names by digest (`transfer_subject_sets`, migration 0008) exists and its
 *   content still hashes to that digest → else `subject_set_missing` / `subject_set_changed`, naming
 *   the first row that references the set (the digest itself is covered by that row's hash);
 * - every checkpoint in the witness outside the database (`checkpoint-witness.ts`) with a valid
 *   signature is still in the database (`checkpoint_missing`), matches the row at its seq
 *   (`checkpoint_mismatch`), and lies within the rows (`rows_missing`, naming the range cut off the
 *   end — even when the head was rewound and the database's own checkpoints deleted).
 *
 * The report also counts the outcomes that are not final: `unknown` transfers (with and without a
 * resolution) and intents still open, so an auditor sees what the log does not know yet.
 */
export type ProblemKind =
  | 'hash_mismatch'
  | 'row_rewritten'
  | 'rows_missing'
  | 'unanchored_start'
  | 'checkpoint_mismatch'
  | 'checkpoint_signature_invalid'
  | 'head_mismatch'
  | 'subject_set_missing'
  | 'subject_set_changed'
  | 'checkpoint_missing';

export interface VerifyProblem {
  kind: ProblemKind;
  /** The row named as broken (null when the problem is about rows that are gone). */
  id: string | null;
  seq: number;
  expected: string;
  actual: string;
  message: string;
}

export interface OrganizationVerifyReport {
  organizationId: string;
  ok: boolean;
  rows: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpointsVerified: number;
  /** Checkpoints signed by another key than the configured one (cannot be checked here). */
  checkpointsUnknownKey: number;
  /** Checkpoints found in the witness outside the database (and checked against the rows). */
  checkpointsWitnessed: number;
  /**
   * Transfers whose outcome is not final: `unknown` (the request may have been applied) resolved by
   * reading the provider — `tookEffect`, `didNotTakeEffect`, `unverifiable` — or not yet (`unresolved`);
   * and intents without any outcome (`open`: under way, or awaiting the recovery job).
   */
  outcomes: { unknown: number; tookEffect: number; didNotTakeEffect: number; unverifiable: number; unresolved: number; open: number };
  /** The newest checkpoint that verified; `jws` (format 2) verifies with the published JWK alone. */
  lastCheckpoint: { seq: number; sealedAt: string; kind: CheckpointKind; jws: string | null } | null;
  /** The lowest-seq problem: the first broken row. */
  firstBroken: VerifyProblem | null;
  /** Up to 20 problems, lowest seq first. */
  problems: VerifyProblem[];
}

export interface VerifyReport {
  ok: boolean;
  rowsChecked: number;
  durationMs: number;
  keyId: string;
  organizations: OrganizationVerifyReport[];
}

const PAGE = 5000;
const MAX_PROBLEMS = 20;

/** Verifies one organization's chain or all of them. */
export async function verifyTransferLog(services: PrivacyServices, options: { organizationId?: string } = {}): Promise<VerifyReport> {
  const started = performance.now();
  const key = getSigningKey(services.config);
  let orgIds: string[];
  if (options.organizationId) {
    orgIds = [options.organizationId];
  } else {
    const heads = await services.db.selectFrom('transfer_log_heads').select('organization_id').execute();
    const fromCheckpoints = await services.db.selectFrom('transfer_log_checkpoints').select('organization_id').distinct().execute();
    orgIds = [...new Set([...heads, ...fromCheckpoints].map((r) => r.organization_id))].sort();
  }
  const organizations: OrganizationVerifyReport[] = [];
  for (const organizationId of orgIds) organizations.push(await verifyOrganization(services, organizationId, key));
  return {
    ok: organizations.every((o) => o.ok),
    rowsChecked: organizations.reduce((n, o) => n + o.rows, 0),
    durationMs: Math.round(performance.now() - started),
    keyId: key.keyId,
    organizations,
  };
}

type CheckpointRow = Selectable<TransferLogCheckpointsTable>;

async function verifyOrganization(services: PrivacyServices, organizationId: string, key: ReturnType<typeof getSigningKey>): Promise<OrganizationVerifyReport> {
  const { db } = services;
  const problems: VerifyProblem[] = [];
  const report: OrganizationVerifyReport = {
    organizationId,
    ok: true,
    rows: 0,
    firstSeq: null,
    lastSeq: null,
    checkpointsVerified: 0,
    checkpointsUnknownKey: 0,
    checkpointsWitnessed: 0,
    outcomes: { unknown: 0, tookEffect: 0, didNotTakeEffect: 0, unverifiable: 0, unresolved: 0, open: 0 },
    lastCheckpoint: null,
    firstBroken: null,
    problems: [],
  };
  // The head is read first: rows appended while we verify lie beyond it and are simply checked too.
  const head = await db.selectFrom('transfer_log_heads').select(['seq', 'hash']).where('organization_id', '=', organizationId).executeTakeFirst();
  const headSeq = head ? Number(head.seq) : 0;
  let atHead: ChainedEntry | null = null;
  const checkpoints = await db.selectFrom('transfer_log_checkpoints').selectAll().where('organization_id', '=', organizationId).orderBy('seq').execute();
  const bySeq = new Map<number, CheckpointRow[]>();
  const trusted: CheckpointRow[] = [];
  for (const c of checkpoints) {
    if (c.key_id !== key.keyId) {
      report.checkpointsUnknownKey++;
      continue;
    }
    if (!(await checkpointSignatureValid(c, key))) {
      problems.push({
        kind: 'checkpoint_signature_invalid',
        id: null,
        seq: Number(c.seq),
        expected: 'a valid Ed25519 signature over what the row states',
        actual: (c.jws ?? c.signature ?? '').slice(-16),
        message: `checkpoint ${c.id} (tree size ${c.seq}) has an invalid signature`,
      });
      continue;
    }
    trusted.push(c);
    const list = bySeq.get(Number(c.seq)) ?? [];
    list.push(c);
    bySeq.set(Number(c.seq), list);
  }
  const lastTrusted = trusted[trusted.length - 1];
  if (lastTrusted) {
    report.lastCheckpoint = {
      seq: Number(lastTrusted.seq),
      sealedAt: new Date(lastTrusted.sealed_at).toISOString(),
      kind: lastTrusted.kind,
      jws: lastTrusted.jws,
    };
  }

  // The witness: signed checkpoints kept outside the database, checked like the database's own.
  const witnessed: WitnessedCheckpoint[] = [];
  for (const w of await checkpointWitness(services.config).list(organizationId)) {
    if (w.keyId !== key.keyId) continue;
    const facts = { organizationId: w.organizationId, seq: w.seq, headHash: w.headHash, sealedAt: new Date(w.sealedAt), kind: w.kind };
    const verified = typeof w.jws === 'string' ? await verifyJws(key.publicKey, w.jws, CHECKPOINT_JWS_TYPE) : null;
    if (!verified || verified.kid !== w.keyId || verified.payloadText !== jcs(checkpointStatement(facts))) continue;
    witnessed.push(w);
    report.checkpointsWitnessed++;
    if (!checkpoints.some((c) => Number(c.seq) === w.seq && c.head_hash === w.headHash && c.jws === w.jws)) {
      problems.push({
        kind: 'checkpoint_missing',
        id: null,
        seq: w.seq,
        expected: `checkpoint at tree size ${w.seq} (sealed ${w.sealedAt})`,
        actual: 'not in the database',
        message: `the checkpoint sealed at tree size ${w.seq} on ${w.sealedAt} is in the witness but no longer in the database`,
      });
    }
  }
  const witnessBySeq = new Map<number, WitnessedCheckpoint[]>();
  for (const w of witnessed) witnessBySeq.set(w.seq, [...(witnessBySeq.get(w.seq) ?? []), w]);

  /** Outcome bookkeeping: intents seen, which got an outcome, unknowns and their resolutions. */
  const intents = new Set<string>();
  const closed = new Set<string>();
  const unknown = new Set<string>();
  const verdicts = new Map<string, string>();

  let prev: ChainedEntry | null = null;
  let after = 0;
  /** Subject-set digests already checked in this run. */
  const setsChecked = new Set<string>();
  for (;;) {
    const rows = await db
      .selectFrom('transfer_log')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    const entries = rows.map(rowToEntry);
    problems.push(...(await checkSubjectSets(services, organizationId, entries, setsChecked)));
    for (const entry of entries) {
      report.rows++;
      if (report.firstSeq === null) {
        report.firstSeq = entry.seq;
        const anchored = entry.seq === 1 ? entry.prevHash === GENESIS_HASH : (bySeq.get(entry.seq - 1) ?? []).some((c) => c.head_hash === entry.prevHash);
        if (!anchored) {
          problems.push({
            kind: 'unanchored_start',
            id: entry.id,
            seq: entry.seq,
            expected: entry.seq === 1 ? GENESIS_HASH : `a signed checkpoint at tree size ${entry.seq - 1}`,
            actual: entry.prevHash,
            message:
              entry.seq === 1
                ? 'the first row does not chain from the genesis hash'
                : `rows before seq ${entry.seq} are gone and no signed checkpoint vouches for prev_hash`,
          });
        }
      }
      const recomputed = hashEntry(entry.prevHash, entry);
      if (recomputed !== entry.hash) {
        problems.push({
          kind: 'hash_mismatch',
          id: entry.id,
          seq: entry.seq,
          expected: recomputed,
          actual: entry.hash,
          message: `row ${entry.id} (seq ${entry.seq}) was changed after it was written: its content no longer hashes to its stored hash`,
        });
      }
      if (prev) {
        if (entry.seq !== prev.seq + 1) {
          problems.push({
            kind: 'rows_missing',
            id: entry.id,
            seq: entry.seq,
            expected: String(prev.seq + 1),
            actual: String(entry.seq),
            message: `rows ${prev.seq + 1}..${entry.seq - 1} are missing before row ${entry.id}`,
          });
        } else if (entry.prevHash !== prev.hash) {
          problems.push({
            kind: 'row_rewritten',
            id: prev.id,
            seq: prev.seq,
            expected: entry.prevHash,
            actual: prev.hash,
            message: `row ${prev.id} (seq ${prev.seq}) was rewritten: its hash is not the one row ${entry.seq} chained from`,
          });
        }
      }
      for (const c of bySeq.get(entry.seq) ?? []) {
        if (c.head_hash !== entry.hash) {
          problems.push({
            kind: 'checkpoint_mismatch',
            id: entry.id,
            seq: entry.seq,
            expected: c.head_hash,
            actual: entry.hash,
            message: `row ${entry.id} (seq ${entry.seq}) differs from what signed checkpoint ${c.id} sealed`,
          });
        } else {
          report.checkpointsVerified++;
        }
      }
      for (const w of witnessBySeq.get(entry.seq) ?? []) {
        if (w.headHash !== entry.hash) {
          problems.push({
            kind: 'checkpoint_mismatch',
            id: entry.id,
            seq: entry.seq,
            expected: w.headHash,
            actual: entry.hash,
            message: `row ${entry.id} (seq ${entry.seq}) differs from what the witnessed checkpoint of ${w.sealedAt} sealed`,
          });
        }
      }
      if (entry.outcome === 'intent') intents.add(entry.id);
      else if (entry.intentId) {
        if (entry.outcome === 'unknown') unknown.add(entry.intentId);
        else if (entry.outcome === 'resolved') verdicts.set(entry.intentId, entry.reason ?? 'unverifiable');
        closed.add(entry.intentId);
      }
      if (entry.seq === headSeq) atHead = entry;
      prev = entry;
    }
    if (rows.length < PAGE) break;
    after = Number(rows[rows.length - 1]!.seq);
  }
  report.lastSeq = prev?.seq ?? null;

  const lastSeq = prev?.seq ?? 0;
  for (const id of intents) if (!closed.has(id)) report.outcomes.open++;
  for (const id of unknown) {
    report.outcomes.unknown++;
    const v = verdicts.get(id);
    if (v === 'took_effect') report.outcomes.tookEffect++;
    else if (v === 'did_not_take_effect') report.outcomes.didNotTakeEffect++;
    else if (v) report.outcomes.unverifiable++;
    else report.outcomes.unresolved++;
  }
  const witnessedBeyond = witnessed.filter((w) => w.seq > lastSeq);
  if (witnessedBeyond.length) {
    const w = witnessedBeyond[witnessedBeyond.length - 1]!;
    problems.push({
      kind: 'rows_missing',
      id: null,
      seq: lastSeq + 1,
      expected: `rows up to seq ${w.seq} (sealed ${w.sealedAt}, per the witness)`,
      actual: lastSeq ? `last row seq ${lastSeq}` : 'no rows',
      message: `rows ${lastSeq + 1}..${w.seq} were cut off the end: the witness holds a checkpoint that sealed them on ${w.sealedAt}`,
    });
  }
  const beyond = trusted.filter((c) => Number(c.seq) > lastSeq);
  if (beyond.length) {
    const c = beyond[beyond.length - 1]!;
    problems.push({
      kind: 'rows_missing',
      id: null,
      seq: lastSeq + 1,
      expected: `rows up to seq ${c.seq} (sealed ${new Date(c.sealed_at).toISOString()})`,
      actual: lastSeq ? `last row seq ${lastSeq}` : 'no rows',
      message: `rows ${lastSeq + 1}..${c.seq} were removed after checkpoint ${c.id} sealed them`,
    });
  }
  if (head && headSeq > 0) {
    const found = atHead as ChainedEntry | null;
    if (!found && headSeq > lastSeq) {
      problems.push({
        kind: 'head_mismatch',
        id: null,
        seq: lastSeq + 1,
        expected: `rows up to seq ${headSeq}`,
        actual: lastSeq ? `last row seq ${lastSeq}` : 'no rows',
        message: `rows ${lastSeq + 1}..${headSeq} are missing from the end of the chain`,
      });
    } else if (found && found.hash !== head.hash) {
      problems.push({
        kind: 'head_mismatch',
        id: found.id,
        seq: found.seq,
        expected: head.hash,
        actual: found.hash,
        message: `row ${found.id} (seq ${found.seq}) was rewritten: the chain head recorded another hash`,
      });
    }
  }

  problems.sort((a, b) => a.seq - b.seq);
  report.problems = problems.slice(0, MAX_PROBLEMS);
  report.firstBroken = problems[0] ?? null;
  report.ok = problems.length === 0;
  return report;
}

/**
 * Whether a checkpoint row is signed by `key` and states exactly what its columns say. Format 2: the
 * JWS verifies (EdDSA, checkpoint `typ`, `kid` = the row's key) and its payload is the RFC 8785 form
 * of the row's statement, so editing a column — or swapping in another row's JWS — fails. Format 1
 * (rows sealed before migration 0013): the detached signature over the v1 message.
 */
async function checkpointSignatureValid(c: CheckpointRow, key: SigningKey): Promise<boolean> {
  const facts = { organizationId: c.organization_id, seq: Number(c.seq), headHash: c.head_hash, sealedAt: new Date(c.sealed_at), kind: c.kind };
  if (c.jws !== null) {
    const verified = await verifyJws(key.publicKey, c.jws, CHECKPOINT_JWS_TYPE);
    return verified !== null && verified.kid === c.key_id && verified.payloadText === jcs(checkpointStatement(facts));
  }
  return c.signature !== null && verifyBytes(key.publicKey, checkpointMessage({ ...facts, keyId: c.key_id }), c.signature);
}

/**
 * Checks the subject sets named by a page of rows that this run has not checked yet: each must exist
 * and hash (canonical JSON, SHA-256) to its digest. A problem names the first row (lowest seq) of the
 * page that references the set; later pages skip sets already checked.
 */
async function checkSubjectSets(services: PrivacyServices, organizationId: string, entries: ChainedEntry[], checked: Set<string>): Promise<VerifyProblem[]> {
  const firstRow = new Map<string, ChainedEntry>();
  for (const e of entries) if (e.subjectsDigest && !checked.has(e.subjectsDigest) && !firstRow.has(e.subjectsDigest)) firstRow.set(e.subjectsDigest, e);
  if (!firstRow.size) return [];
  const problems: VerifyProblem[] = [];
  const digests = [...firstRow.keys()];
  const found = new Set<string>();
  for (let i = 0; i < digests.length; i += 100) {
    const sets = await services.db
      .selectFrom('transfer_subject_sets')
      .select(['digest', 'subjects'])
      .where('organization_id', '=', organizationId)
      .where('digest', 'in', digests.slice(i, i + 100))
      .execute();
    for (const set of sets) {
      found.add(set.digest);
      const actual = sha256Hex(canonicalJson(set.subjects));
      if (actual !== set.digest) {
        const row = firstRow.get(set.digest)!;
        problems.push({
          kind: 'subject_set_changed',
          id: row.id,
          seq: row.seq,
          expected: set.digest,
          actual,
          message: `the subject set named by row ${row.id} (seq ${row.seq}) was changed after it was written: it no longer hashes to ${set.digest}`,
        });
      }
    }
  }
  for (const digest of digests) {
    checked.add(digest);
    if (found.has(digest)) continue;
    const row = firstRow.get(digest)!;
    problems.push({
      kind: 'subject_set_missing',
      id: row.id,
      seq: row.seq,
      expected: digest,
      actual: 'no stored set',
      message: `the subject set named by row ${row.id} (seq ${row.seq}) is gone`,
    });
  }
  return problems;
}
