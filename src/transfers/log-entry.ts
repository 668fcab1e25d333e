import type { Selectable } from 'kysely';
import type { TransferLogTable, TransferOutcomeColumn } from '../db/types.ts';
import { canonicalJson, sha256Hex } from './canonical.ts';
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
  subjects: TransferSubjects;
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

/** Keeps the known subject kinds with at least one id, de-duplicated (the stored, hashed form). */
export function normaliseSubjects(subjects: TransferSubjects | undefined): TransferSubjects {
  const out: TransferSubjects = {};
  for (const kind of SUBJECT_KINDS) {
    const ids = subjects?.[kind];
    if (ids?.length) out[kind] = [...new Set(ids.map(String))];
  }
  return out;
}

/** Text the database accepts and that leaks nothing: NUL removed, length capped. */
export function cleanText(value: string | null | undefined, max = 1000): string | null {
  if (value === null || value === undefined) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what PostgreSQL text refuses
  const s = value.replace(/\u0000/g, '');
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The canonical row text the hash covers. */
export function canonicalEntry(entry: TransferLogEntry & { seq: number }): string {
  return canonicalJson({
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
  });
}

/** `SHA-256(prev_hash || canonical row)`, hex. */
export function hashEntry(prevHash: string, entry: TransferLogEntry & { seq: number }): string {
  return sha256Hex(prevHash + canonicalEntry(entry));
}

/** Chains entries after a head; returns the chained rows (the last one's hash is the new head). */
export function chainEntries(head: { seq: number; hash: string }, entries: TransferLogEntry[]): ChainedEntry[] {
  let { seq, hash } = head;
  return entries.map((e) => {
    seq += 1;
    const chained: ChainedEntry = { ...e, seq, prevHash: hash, hash: '' };
    chained.hash = hashEntry(hash, chained);
    hash = chained.hash;
    return chained;
  });
}

export type TransferLogRow = Selectable<TransferLogTable>;

/** Database row → entry (the inverse of `entryToRecord`). */
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

/** Entry → the snake_case record `jsonb_to_recordset` turns into a row. */
export function entryToRecord(e: ChainedEntry): Record<string, unknown> {
  return {
    id: e.id,
    organization_id: e.organizationId,
    seq: e.seq,
    direction: e.direction,
    user_id: e.userId,
    connection_id: e.connectionId,
    platform: e.platform,
    recipient_account: e.recipientAccount,
    recipient_destination: e.recipientDestination,
    subjects: e.subjects,
    categories: e.categories,
    field_names: e.fieldNames,
    purpose: e.purpose,
    consent_id: e.consentId,
    consent_version: e.consentVersion,
    payload_sha256: e.payloadSha256,
    payload_bytes: e.payloadBytes,
    actor: e.actor,
    operation: e.operation,
    item_key: e.itemKey,
    intent_id: e.intentId,
    outcome: e.outcome,
    provider_status: e.providerStatus,
    remote_id: e.remoteId,
    duration_ms: e.durationMs,
    reason: e.reason,
    error_class: e.errorClass,
    error_message: e.errorMessage,
    requester_ip: e.requesterIp,
    requester_user_agent: e.requesterUserAgent,
    created_at: e.createdAt.toISOString(),
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

/** The column list and types of `jsonb_to_recordset(...) AS x(<this>)`, in `entryToRecord` order. */
export const RECORDSET_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['id', 'uuid'],
  ['organization_id', 'uuid'],
  ['seq', 'bigint'],
  ['direction', 'text'],
  ['user_id', 'uuid'],
  ['connection_id', 'uuid'],
  ['platform', 'text'],
  ['recipient_account', 'text'],
  ['recipient_destination', 'text'],
  ['subjects', 'jsonb'],
  ['categories', 'jsonb'],
  ['field_names', 'jsonb'],
  ['purpose', 'text'],
  ['consent_id', 'uuid'],
  ['consent_version', 'integer'],
  ['payload_sha256', 'text'],
  ['payload_bytes', 'integer'],
  ['actor', 'jsonb'],
  ['operation', 'text'],
  ['item_key', 'text'],
  ['intent_id', 'uuid'],
  ['outcome', 'text'],
  ['provider_status', 'integer'],
  ['remote_id', 'text'],
  ['duration_ms', 'integer'],
  ['reason', 'text'],
  ['error_class', 'text'],
  ['error_message', 'text'],
  ['requester_ip', 'text'],
  ['requester_user_agent', 'text'],
  ['created_at', 'timestamptz'],
  ['prev_hash', 'text'],
  ['hash', 'text'],
];
