import type { Selectable } from 'kysely';
import type { TransferLogTable, TransferOutcomeColumn } from '../db/types.ts';
import { canonicalDigest, canonicalJson, deepFrozenByConstruction, isDeepFrozen, sha256Hex } from './canonical.ts';
import type { TransferSubjects } from './types.ts';

/**
 * One transfer-log row as the code sees it, and the hash-chain rule:
 * `hash = SHA-256(prev_hash || canonical(row))`, where `canonical(row)` is the canonical JSON of every
 * column except `prev_hash` and `hash` (timestamps as ISO-8601 with milliseconds, absent values as
 * null). The same function hashes on append and on verify, so a row read back from the database
 * re-hashes to the stored value unless someone changed it.
 */
export interface TransferLogEntry {
  id: string;
  organizationId: string;
  direction: 'outbound' | 'inbound';
  userId: string | null;
  connectionId: string | null;
  platform: string | null;
  recipientAccount: string | null;
  recipientDestination: string | null;
  /**
   * The data subjects, inline. Empty when {@link subjectsDigest} is set: a large set (more than
   * {@link INLINE_SUBJECTS_MAX} ids, e.g. a 5,000-event feed) is stored once in
   * `transfer_subject_sets` and rows name it by digest (see {@link subjectSetDigest}).
   */
  subjects: TransferSubjects;
  /**
   * SHA-256 of the canonical JSON of the row's subject set when it is stored by reference; null or
   * absent when the subjects are inline. Covered by the row hash, and the set's content is checked
   * against it by `transfers verify`, so neither can be changed unnoticed.
   */
  subjectsDigest?: string | null;
  categories: string[];
  fieldNames: string[];
  purpose: string;
  consentId: string | null;
  consentVersion: number | null;
  payloadSha256: string | null;
  payloadBytes: number | null;
  actor: Record<string, unknown>;
  operation: string;
  itemKey: string | null;
  intentId: string | null;
  outcome: TransferOutcomeColumn;
  providerStatus: number | null;
  remoteId: string | null;
  durationMs: number | null;
  reason: string | null;
  errorClass: string | null;
  errorMessage: string | null;
  requesterIp: string | null;
  requesterUserAgent: string | null;
  /** Millisecond precision (set in JS), so it survives the timestamptz round trip exactly. */
  createdAt: Date;
}

/** A row with its place in the chain. */
export interface ChainedEntry extends TransferLogEntry {
  seq: number;
  prevHash: string;
  hash: string;
}

/** prev_hash of an organization's first row. */
export const GENESIS_HASH = '0'.repeat(64);

const SUBJECT_KINDS = ['caseIds', 'eventIds', 'documentIds', 'contactIds', 'personIds'] as const;

/** Normalised forms of deeply frozen subject objects (a cached feed's item is normalised once). */
const normalisedFrozen = new WeakMap<object, TransferSubjects>();

/**
 * Keeps the known subject kinds with at least one id, de-duplicated (the stored, hashed form). The
 * result is frozen; for a deeply frozen input it is memoised, so repeated transfers of the same
 * (cached, frozen) item share one normalised object and its memoised digest.
 */
export function normaliseSubjects(subjects: TransferSubjects | undefined): TransferSubjects {
  const memo = subjects !== undefined && isDeepFrozen(subjects);
  if (memo) {
    const hit = normalisedFrozen.get(subjects);
    if (hit) return hit;
  }
  const out: TransferSubjects = {};
  for (const kind of SUBJECT_KINDS) {
    const ids = subjects?.[kind];
    if (ids?.length) out[kind] = deepFrozenByConstruction(Object.freeze([...new Set(ids.map(String))])) as string[];
  }
  // Frozen plain data built here: the log's canonical JSON of it is memoised without a walk.
  deepFrozenByConstruction(Object.freeze(out));
  if (memo) normalisedFrozen.set(subjects, out);
  return out;
}

/** Rows naming more subject ids than this store them once, by reference (`transfer_subject_sets`). */
export const INLINE_SUBJECTS_MAX = 64;

/** How many ids a subjects object names. */
export function subjectCount(subjects: TransferSubjects): number {
  let n = 0;
  for (const kind of SUBJECT_KINDS) n += subjects[kind]?.length ?? 0;
  return n;
}

/**
 * The digest a stored subject set is named by: SHA-256 (hex) of the canonical JSON of the normalised
 * subjects. Memoised for frozen objects (what {@link normaliseSubjects} returns).
 */
export function subjectSetDigest(subjects: TransferSubjects): string {
  return canonicalDigest(subjects as Record<string, unknown>).sha256;
}

/** Text the database accepts and that leaks nothing: NUL removed, length capped. */
export function cleanText(value: string | null | undefined, max = 1000): string | null {
  if (value === null || value === undefined) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what PostgreSQL text refuses
  const s = value.replace(/\u0000/g, '');
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The members of the canonical row, keyed as in the canonical JSON (camelCase). */
function canonicalFields(entry: TransferLogEntry & { seq: number }): Record<string, unknown> {
  return {
    id: entry.id,
    organizationId: entry.organizationId,
    seq: entry.seq,
    direction: entry.direction,
    userId: entry.userId,
    connectionId: entry.connectionId,
    platform: entry.platform,
    recipientAccount: entry.recipientAccount,
    recipientDestination: entry.recipientDestination,
    subjects: entry.subjects,
    // Only present when set, so the canonical form of rows written before subject sets existed (and
    // of every row with inline subjects) is unchanged.
    subjectsDigest: entry.subjectsDigest ?? undefined,
    categories: entry.categories,
    fieldNames: entry.fieldNames,
    purpose: entry.purpose,
    consentId: entry.consentId,
    consentVersion: entry.consentVersion,
    payloadSha256: entry.payloadSha256,
    payloadBytes: entry.payloadBytes,
    actor: entry.actor,
    operation: entry.operation,
    itemKey: entry.itemKey,
    intentId: entry.intentId,
    outcome: entry.outcome,
    providerStatus: entry.providerStatus,
    remoteId: entry.remoteId,
    durationMs: entry.durationMs,
    reason: entry.reason,
    errorClass: entry.errorClass,
    errorMessage: entry.errorMessage,
    requesterIp: entry.requesterIp,
    requesterUserAgent: entry.requesterUserAgent,
    createdAt: entry.createdAt.toISOString(),
  };
}

/** A scalar member as canonical JSON (an absent value is written as the null the database stores). */
const scalar = (v: string | number | null | undefined): string => (v === undefined ? 'null' : JSON.stringify(v));
/** Canonical JSON of deeply frozen objects (it cannot change), e.g. subjects shared by an intent and its outcome. */
const nestedFrozen = new WeakMap<object, string>();
/**
 * A structured member (subjects, actor, categories, field names) as canonical JSON. Objects that are
 * deeply frozen are serialised once; arrays of names are cheaper to serialise than to look up.
 */
const nested = (v: unknown): string => {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !isDeepFrozen(v)) return canonicalJson(v);
  let text = nestedFrozen.get(v);
  if (text === undefined) {
    text = canonicalJson(v);
    nestedFrozen.set(v, text);
  }
  return text;
};

/**
 * The canonical row text the hash covers: `canonicalJson` of the row's members (every column except
 * `prev_hash` and `hash`), keys sorted. Written out directly, member by member in sorted order — the
 * same bytes as `canonicalJson(canonicalFields(entry))` (property-tested in
 * test/privacy/transfer-log-fast-path.test.ts), about twice as fast, which matters because every
 * append and every verified row goes through it.
 */
export function canonicalEntry(e: TransferLogEntry & { seq: number }): string {
  const digest = e.subjectsDigest ? `,"subjectsDigest":${scalar(e.subjectsDigest)}` : '';
  return (
    `{"actor":${nested(e.actor)},"categories":${nested(e.categories)},"connectionId":${scalar(e.connectionId)}` +
    `,"consentId":${scalar(e.consentId)},"consentVersion":${scalar(e.consentVersion)}` +
    `,"createdAt":${scalar(e.createdAt.toISOString())},"direction":${scalar(e.direction)},"durationMs":${scalar(e.durationMs)}` +
    `,"errorClass":${scalar(e.errorClass)},"errorMessage":${scalar(e.errorMessage)},"fieldNames":${nested(e.fieldNames)}` +
    `,"id":${scalar(e.id)},"intentId":${scalar(e.intentId)},"itemKey":${scalar(e.itemKey)},"operation":${scalar(e.operation)}` +
    `,"organizationId":${scalar(e.organizationId)},"outcome":${scalar(e.outcome)},"payloadBytes":${scalar(e.payloadBytes)}` +
    `,"payloadSha256":${scalar(e.payloadSha256)},"platform":${scalar(e.platform)},"providerStatus":${scalar(e.providerStatus)}` +
    `,"purpose":${scalar(e.purpose)},"reason":${scalar(e.reason)},"recipientAccount":${scalar(e.recipientAccount)}` +
    `,"recipientDestination":${scalar(e.recipientDestination)},"remoteId":${scalar(e.remoteId)}` +
    `,"requesterIp":${scalar(e.requesterIp)},"requesterUserAgent":${scalar(e.requesterUserAgent)},"seq":${scalar(e.seq)}` +
    `,"subjects":${nested(e.subjects)}${digest},"userId":${scalar(e.userId)}}`
  );
}

/** The reference form the fast {@link canonicalEntry} must equal (used by tests). */
export function canonicalEntryReference(entry: TransferLogEntry & { seq: number }): string {
  return canonicalJson(canonicalFields(entry));
}

/** `SHA-256(prev_hash || canonical row)`, hex. */
export function hashEntry(prevHash: string, entry: TransferLogEntry & { seq: number }): string {
  return sha256Hex(prevHash + canonicalEntry(entry));
}

/** Chains entries after a head; returns the chained rows (the last one's hash is the new head). */
export function chainEntries(head: { seq: number; hash: string }, entries: TransferLogEntry[]): ChainedEntry[] {
  return chainForInsert(head, entries).chained;
}

/**
 * Chains entries after a head and also returns, per row, the JSON record the append function inserts
 * (`casebridge_transfer_log_append`, migration 0008): the canonical row text with `prevHash` and
 * `hash` added — serialised once, for the hash and for the database.
 */
export function chainForInsert(head: { seq: number; hash: string }, entries: TransferLogEntry[]): { chained: ChainedEntry[]; records: string[] } {
  let { seq, hash } = head;
  const records: string[] = new Array(entries.length);
  const chained = entries.map((e, i) => {
    seq += 1;
    const row = chainedRow(e, seq, hash);
    const text = canonicalEntry(row);
    row.hash = sha256Hex(hash + text);
    records[i] = `${text.slice(0, -1)},"prevHash":"${row.prevHash}","hash":"${row.hash}"}`;
    hash = row.hash;
    return row;
  });
  return { chained, records };
}

/**
 * The entry with its chain fields, built member by member: `{ ...e, seq, prevHash, hash }` adds three
 * members to a 31-member object, which V8 turns into a slow (dictionary) object — 8 µs to build and
 * slow to read when the row is serialised — where this literal has one fixed shape (≈0.1 µs).
 */
function chainedRow(e: TransferLogEntry, seq: number, prevHash: string): ChainedEntry {
  const row: ChainedEntry = {
    id: e.id,
    organizationId: e.organizationId,
    direction: e.direction,
    userId: e.userId,
    connectionId: e.connectionId,
    platform: e.platform,
    recipientAccount: e.recipientAccount,
    recipientDestination: e.recipientDestination,
    subjects: e.subjects,
    categories: e.categories,
    fieldNames: e.fieldNames,
    purpose: e.purpose,
    consentId: e.consentId,
    consentVersion: e.consentVersion,
    payloadSha256: e.payloadSha256,
    payloadBytes: e.payloadBytes,
    actor: e.actor,
    operation: e.operation,
    itemKey: e.itemKey,
    intentId: e.intentId,
    outcome: e.outcome,
    providerStatus: e.providerStatus,
    remoteId: e.remoteId,
    durationMs: e.durationMs,
    reason: e.reason,
    errorClass: e.errorClass,
    errorMessage: e.errorMessage,
    requesterIp: e.requesterIp,
    requesterUserAgent: e.requesterUserAgent,
    createdAt: e.createdAt,
    seq,
    prevHash,
    hash: '',
  };
  if (e.subjectsDigest !== undefined) row.subjectsDigest = e.subjectsDigest;
  return row;
}

export type TransferLogRow = Selectable<TransferLogTable>;

/** Database row → entry. */
export function rowToEntry(row: TransferLogRow): ChainedEntry {
  return {
    id: row.id,
    organizationId: row.organization_id,
    seq: Number(row.seq),
    direction: row.direction,
    userId: row.user_id,
    connectionId: row.connection_id,
    platform: row.platform,
    recipientAccount: row.recipient_account,
    recipientDestination: row.recipient_destination,
    subjects: row.subjects as TransferSubjects,
    subjectsDigest: row.subjects_digest ?? null,
    categories: row.categories,
    fieldNames: row.field_names,
    purpose: row.purpose,
    consentId: row.consent_id,
    consentVersion: row.consent_version,
    payloadSha256: row.payload_sha256,
    payloadBytes: row.payload_bytes,
    actor: row.actor,
    operation: row.operation,
    itemKey: row.item_key,
    intentId: row.intent_id,
    outcome: row.outcome,
    providerStatus: row.provider_status,
    remoteId: row.remote_id,
    durationMs: row.duration_ms,
    reason: row.reason,
    errorClass: row.error_class,
    errorMessage: row.error_message,
    requesterIp: row.requester_ip,
    requesterUserAgent: row.requester_user_agent,
    createdAt: new Date(row.created_at),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
