import { type SelectQueryBuilder, sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { DB, TransferOutcomeColumn } from '../db/types.ts';
import { type ChainedEntry, rowToEntry } from './log-entry.ts';
import type { TransferActor, TransferSubjects } from './types.ts';

/**
 * Reading the transfer log: filtered pages (keyset on the organization's chain seq, newest first),
 * streaming export, and the access-request report for one data subject. Every query is scoped to one
 * organization; a member's scope is further limited to their own connections' rows.
 *
 * Rows naming many subjects store them by reference (`subjects_digest` → `transfer_subject_sets`,
 * see migration 0008). A subject filter matches rows whose inline subjects contain the subject OR
 * whose referenced set does, and every row returned carries its subjects resolved from the set, so
 * pages, exports and the access report read the same as if the subjects were inline.
 */

export const SUBJECT_KINDS = {
  caseId: 'caseIds',
  eventId: 'eventIds',
  contactId: 'contactIds',
  personId: 'personIds',
  documentId: 'documentIds',
} as const;

export type SubjectParam = keyof typeof SUBJECT_KINDS;

export interface TransferScope {
  organizationId: string;
  /** Set for members: only rows of this user's connections. */
  userId?: string;
}

export interface TransferFilters {
  connectionId?: string;
  userId?: string;
  platform?: string;
  subject?: { kind: SubjectParam; id: string };
  from?: Date;
  to?: Date;
  outcomes?: TransferOutcomeColumn[];
  direction?: 'outbound' | 'inbound';
  purpose?: string;
}

/** Beyond this many matching subject sets, the filter uses a sub-select instead of a list of digests. */
const MAX_LISTED_SETS = 1000;

/**
 * The stored subject sets of an organization that name a subject: their digests, or `null` when
 * there are more than {@link MAX_LISTED_SETS} (the filter then matches by sub-select).
 */
async function setsNaming(db: Db, organizationId: string, subject: NonNullable<TransferFilters['subject']>): Promise<string[] | null> {
  const rows = await db
    .selectFrom('transfer_subject_sets')
    .select('digest')
    .where('organization_id', '=', organizationId)
    .where(sql<boolean>`subjects @> ${subjectProbe(subject)}::jsonb`)
    .limit(MAX_LISTED_SETS + 1)
    .execute();
  return rows.length > MAX_LISTED_SETS ? null : rows.map((r) => r.digest);
}

/** Containment probe for the GIN (jsonb_path_ops) indexes: {"caseIds":["…"]}. */
function subjectProbe(subject: NonNullable<TransferFilters['subject']>): string {
  return JSON.stringify({ [SUBJECT_KINDS[subject.kind]]: [subject.id] });
}

/** Filters resolved for one query: the matching subject sets looked up once. */
interface ResolvedFilters extends TransferFilters {
  /** Digests of the subject sets naming `subject` (null: too many to list, match by sub-select). */
  subjectSets?: string[] | null;
}

async function resolveFilters(db: Db, scope: TransferScope, f: TransferFilters): Promise<ResolvedFilters> {
  return f.subject ? { ...f, subjectSets: await setsNaming(db, scope.organizationId, f.subject) } : f;
}

function applyFilters<O>(q: SelectQueryBuilder<DB, 'transfer_log', O>, scope: TransferScope, f: ResolvedFilters): SelectQueryBuilder<DB, 'transfer_log', O> {
  let out = q.where('organization_id', '=', scope.organizationId);
  if (scope.userId) out = out.where('user_id', '=', scope.userId);
  if (f.connectionId) out = out.where('connection_id', '=', f.connectionId);
  if (f.userId) out = out.where('user_id', '=', f.userId);
  if (f.platform) out = out.where('platform', '=', f.platform);
  if (f.subject) {
    // Containment on the GIN (jsonb_path_ops) index, or a reference to a set that contains it.
    const probe = subjectProbe(f.subject);
    const sets = f.subjectSets;
    if (sets === null) {
      out = out.where(
        sql<boolean>`(subjects @> ${probe}::jsonb OR subjects_digest IN (SELECT s.digest FROM transfer_subject_sets s
          WHERE s.organization_id = ${scope.organizationId} AND s.subjects @> ${probe}::jsonb))`,
      );
    } else if (sets?.length) {
      out = out.where((eb) => eb.or([sql<boolean>`subjects @> ${probe}::jsonb`, eb('subjects_digest', 'in', sets)]));
    } else {
      out = out.where(sql<boolean>`subjects @> ${probe}::jsonb`);
    }
  }
  if (f.from) out = out.where('created_at', '>=', f.from);
  if (f.to) out = out.where('created_at', '<', f.to);
  if (f.outcomes?.length) out = out.where('outcome', 'in', f.outcomes);
  if (f.direction) out = out.where('direction', '=', f.direction);
  if (f.purpose) out = out.where('purpose', '=', f.purpose);
  return out;
}

/** Opaque page cursor: the seq of the last row returned. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number | null {
  const m = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : null;
}

/** Sets kept per query while resolving (a feed's set is ~190 KB; pages mostly repeat a few). */
const MAX_CACHED_SETS = 32;

/**
 * Entries with their subjects resolved: rows that name a stored subject set get the set's subjects
 * (`subjectsDigest` stays, so a reader can tell, and check the digest). `cache` is shared across the
 * pages of one query.
 */
export async function withResolvedSubjects(
  db: Db,
  organizationId: string,
  entries: ChainedEntry[],
  cache: Map<string, TransferSubjects> = new Map(),
): Promise<ChainedEntry[]> {
  const missing = [...new Set(entries.map((e) => e.subjectsDigest).filter((d): d is string => !!d && !cache.has(d)))];
  if (cache.size + missing.length > MAX_CACHED_SETS) cache.clear();
  for (let i = 0; i < missing.length; i += 200) {
    const rows = await db
      .selectFrom('transfer_subject_sets')
      .select(['digest', 'subjects'])
      .where('organization_id', '=', organizationId)
      .where('digest', 'in', missing.slice(i, i + 200))
      .execute();
    for (const r of rows) cache.set(r.digest, r.subjects as TransferSubjects);
  }
  // The foreign key keeps every referenced set present; `{}` would only show for a set deleted by hand
  // (which `transfers verify` reports). The writer leaves inline subjects empty on such rows; should a
  // row carry both, the reader sees both.
  return entries.map((e) => (e.subjectsDigest ? { ...e, subjects: unionSubjects(cache.get(e.subjectsDigest) ?? {}, e.subjects) } : e));
}

function unionSubjects(a: TransferSubjects, b: TransferSubjects): TransferSubjects {
  if (!Object.keys(b).length) return a;
  const out: Record<string, string[]> = { ...a } as Record<string, string[]>;
  for (const [kind, ids] of Object.entries(b) as Array<[string, string[] | undefined]>) {
    if (ids?.length) out[kind] = [...new Set([...(out[kind] ?? []), ...ids])];
  }
  return out as TransferSubjects;
}

/** One page, newest first. */
export async function listTransfers(
  db: Db,
  params: { scope: TransferScope; filters: TransferFilters; limit: number; beforeSeq?: number | null },
): Promise<{ items: ChainedEntry[]; nextCursor: string | null }> {
  const filters = await resolveFilters(db, params.scope, params.filters);
  let q = applyFilters(db.selectFrom('transfer_log').selectAll(), params.scope, filters);
  if (params.beforeSeq) q = q.where('seq', '<', params.beforeSeq);
  const rows = await q
    .orderBy('seq', 'desc')
    .limit(params.limit + 1)
    .execute();
  const items = await withResolvedSubjects(db, params.scope.organizationId, rows.slice(0, params.limit).map(rowToEntry));
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > params.limit && last ? encodeCursor(last.seq) : null };
}

/** Every matching row, oldest first, in pages (for exports); stops after `max` rows. */
export async function* iterateTransfers(
  db: Db,
  params: { scope: TransferScope; filters: TransferFilters; pageSize?: number; max?: number },
): AsyncGenerator<ChainedEntry> {
  const pageSize = params.pageSize ?? 1000;
  const filters = await resolveFilters(db, params.scope, params.filters);
  const sets = new Map<string, TransferSubjects>();
  let after = 0;
  let yielded = 0;
  for (;;) {
    const q = applyFilters(db.selectFrom('transfer_log').selectAll(), params.scope, filters);
    const rows = await q.where('seq', '>', after).orderBy('seq').limit(pageSize).execute();
    for (const entry of await withResolvedSubjects(db, params.scope.organizationId, rows.map(rowToEntry), sets)) {
      if (params.max !== undefined && yielded >= params.max) return;
      yielded++;
      yield entry;
    }
    if (rows.length < pageSize) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

/** The API view of a row (camelCase; chain fields included so exports can be checked offline). */
export function transferView(e: ChainedEntry) {
  return {
    id: e.id,
    seq: e.seq,
    createdAt: e.createdAt.toISOString(),
    direction: e.direction,
    outcome: e.outcome,
    operation: e.operation,
    purpose: e.purpose,
    organizationId: e.organizationId,
    userId: e.userId,
    connectionId: e.connectionId,
    platform: e.platform,
    recipient: { account: e.recipientAccount, destination: e.recipientDestination },
    subjects: e.subjects,
    // Set when the row stores its subjects by reference: the hashed row then has `subjects: {}` and
    // this digest, which is the SHA-256 of the canonical JSON of `subjects` above.
    subjectsDigest: e.subjectsDigest ?? null,
    categories: e.categories,
    fieldNames: e.fieldNames,
    consent: e.consentId ? { id: e.consentId, version: e.consentVersion } : null,
    payload: { sha256: e.payloadSha256, bytes: e.payloadBytes },
    // Every row is written from a TransferActor (types.ts); the column is plain JSON.
    actor: e.actor as TransferActor,
    itemKey: e.itemKey,
    intentId: e.intentId,
    providerStatus: e.providerStatus,
    remoteId: e.remoteId,
    durationMs: e.durationMs,
    reason: e.reason,
    error: e.errorClass ? { class: e.errorClass, message: e.errorMessage } : null,
    requester: e.requesterIp || e.requesterUserAgent ? { ip: e.requesterIp, userAgent: e.requesterUserAgent } : null,
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

export type TransferView = ReturnType<typeof transferView>;

/** CSV columns of the export, in order. */
export const CSV_COLUMNS = [
  'id',
  'seq',
  'created_at',
  'direction',
  'outcome',
  'operation',
  'purpose',
  'user_id',
  'connection_id',
  'platform',
  'recipient_account',
  'recipient_destination',
  'case_ids',
  'event_ids',
  'contact_ids',
  'person_ids',
  'document_ids',
  'categories',
  'field_names',
  'consent_id',
  'consent_version',
  'payload_sha256',
  'payload_bytes',
  'actor',
  'item_key',
  'intent_id',
  'provider_status',
  'remote_id',
  'duration_ms',
  'reason',
  'error_class',
  'requester_ip',
  'hash',
] as const;

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : Array.isArray(value) ? value.join(' ') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // Spreadsheet formula injection: a cell starting with = + - @ is neutralised.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV line (with CRLF, as RFC 4180 has it). */
export function csvLine(e: ChainedEntry): string {
  const cells: unknown[] = [
    e.id,
    e.seq,
    e.createdAt.toISOString(),
    e.direction,
    e.outcome,
    e.operation,
    e.purpose,
    e.userId,
    e.connectionId,
    e.platform,
    e.recipientAccount,
    e.recipientDestination,
    e.subjects.caseIds,
    e.subjects.eventIds,
    e.subjects.contactIds,
    e.subjects.personIds,
    e.subjects.documentIds,
    e.categories,
    e.fieldNames,
    e.consentId,
    e.consentVersion,
    e.payloadSha256,
    e.payloadBytes,
    e.actor,
    e.itemKey,
    e.intentId,
    e.providerStatus,
    e.remoteId,
    e.durationMs,
    e.reason,
    e.errorClass,
    e.requesterIp,
    e.hash,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * How a transfer in an access report ended:
 * - `delivered` / `received`: the provider confirmed it;
 * - `failed_may_have_reached_recipient`: the provider answered with an error (the request reached it);
 * - `outcome_unknown`: no answer came (timeout, lost connection, crash) and reading the provider has
 *   not settled it yet, or could not (`unverifiable`) — it may have reached the recipient;
 * - `delivered_confirmed_later`: no answer came, and reading the provider showed the write took effect;
 * - `not_applied`: no answer came, and reading the provider showed the write did not take effect (the
 *   request may still have reached the provider);
 * - `unconfirmed`: an intent still without any outcome (under way, or awaiting the recovery job).
 */
export type Delivery =
  | 'delivered'
  | 'received'
  | 'failed_may_have_reached_recipient'
  | 'outcome_unknown'
  | 'delivered_confirmed_later'
  | 'not_applied'
  | 'unconfirmed';

/** What reading the provider showed about a transfer whose answer never came. */
export interface TransferResolution {
  verdict: 'took_effect' | 'did_not_take_effect' | 'unverifiable';
  at: string;
}

function deliveryOf(group: ChainedEntry[]): { delivery: Delivery; resolution: TransferResolution | null } {
  const resolved = group.find((e) => e.outcome === 'resolved');
  const resolution: TransferResolution | null = resolved
    ? { verdict: (resolved.reason as TransferResolution['verdict'] | null) ?? 'unverifiable', at: resolved.createdAt.toISOString() }
    : null;
  const answer = group.find((e) => e.outcome === 'sent' || e.outcome === 'received' || e.outcome === 'failed');
  if (answer) {
    const delivery = answer.outcome === 'sent' ? 'delivered' : answer.outcome === 'received' ? 'received' : 'failed_may_have_reached_recipient';
    return { delivery, resolution };
  }
  if (resolution?.verdict === 'took_effect') return { delivery: 'delivered_confirmed_later', resolution };
  if (resolution?.verdict === 'did_not_take_effect') return { delivery: 'not_applied', resolution };
  if (resolution || group.some((e) => e.outcome === 'unknown')) return { delivery: 'outcome_unknown', resolution };
  return { delivery: 'unconfirmed', resolution };
}

export interface SubjectAccessTransfer {
  transferId: string;
  direction: 'outbound' | 'inbound';
  operation: string;
  purpose: string;
  /** For outbound transfers the recipient, for inbound ones the source. */
  counterparty: { platform: string | null; account: string | null; destination: string | null };
  connectionId: string | null;
  userId: string | null;
  categories: string[];
  fieldNames: string[];
  consent: { id: string; version: number | null } | null;
  startedAt: string;
  completedAt: string | null;
  delivery: Delivery;
  /** For a transfer whose answer never came: what reading the provider showed (null when not resolved). */
  resolution: TransferResolution | null;
  providerStatus: number | null;
  remoteId: string | null;
  actor: TransferActor;
  payloadSha256: string | null;
  payloadBytes: number | null;
  logRowIds: string[];
}

export interface SubjectAccessReport {
  organizationId: string;
  subject: { kind: SubjectParam; id: string };
  generatedAt: string;
  /** Every distinct recipient the subject's data was disclosed to (GDPR Art. 15(1)(c), named individually). */
  recipients: Array<{ platform: string | null; account: string | null; destination: string | null; transfers: number }>;
  /** Every distinct source data about the subject came from (Art. 15(1)(g)). */
  sources: Array<{ platform: string | null; account: string | null; destination: string | null; transfers: number }>;
  transfers: SubjectAccessTransfer[];
  /** Transfers the gate refused (nothing left); listed by count only. */
  refusedCount: number;
  /** Transfers prepared and never sent (nothing left: a connection never made, a chunk stopped); by count only. */
  notSentCount: number;
}

/** The transfers of one direction counted per counterparty (platform, account, destination), in first-seen order. */
export function tallyCounterparties(
  transfers: readonly SubjectAccessTransfer[],
  direction: 'outbound' | 'inbound',
): Array<{ platform: string | null; account: string | null; destination: string | null; transfers: number }> {
  const m = new Map<string, { platform: string | null; account: string | null; destination: string | null; transfers: number }>();
  for (const t of transfers) {
    if (t.direction !== direction) continue;
    const k = JSON.stringify([t.counterparty.platform, t.counterparty.account, t.counterparty.destination]);
    const cur = m.get(k) ?? { ...t.counterparty, transfers: 0 };
    cur.transfers++;
    m.set(k, cur);
  }
  return [...m.values()];
}

/**
 * Every transfer that carried data about one data subject, oldest first, recipients named
 * individually. A transfer is its intent row plus its outcome row; refused (`blocked`) and
 * `not_modified` transfers carried nothing and are only counted, as are `not_sent` ones (prepared,
 * never sent). A failed call, a call of unknown outcome and an intent without an outcome (the process
 * died mid-call) may still have reached the recipient, so they are listed with that status — and, once
 * the provider was read, with the resolution — rather than hidden.
 */
export async function subjectAccessReport(
  db: Db,
  params: { organizationId: string; subject: { kind: SubjectParam; id: string } },
): Promise<SubjectAccessReport> {
  const matches: ChainedEntry[] = [];
  for await (const e of iterateTransfers(db, { scope: { organizationId: params.organizationId }, filters: { subject: params.subject } })) {
    matches.push(e);
  }
  // Outcome rows may carry subjects their intent did not (an import names what it received), so
  // whole transfers are collected from either side.
  const groupIds = [...new Set(matches.map((e) => e.intentId ?? e.id))];
  const rows = new Map<string, ChainedEntry>(matches.map((e) => [e.id, e]));
  for (let i = 0; i < groupIds.length; i += 500) {
    const chunk = groupIds.slice(i, i + 500);
    const more = await db
      .selectFrom('transfer_log')
      .selectAll()
      .where('organization_id', '=', params.organizationId)
      .where((eb) => eb.or([eb('id', 'in', chunk), eb('intent_id', 'in', chunk)]))
      .execute();
    for (const r of more) rows.set(r.id, rowToEntry(r));
  }
  const groups = new Map<string, ChainedEntry[]>();
  for (const e of [...rows.values()].sort((a, b) => a.seq - b.seq)) {
    const key = e.intentId ?? e.id;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const transfers: SubjectAccessTransfer[] = [];
  let refusedCount = 0;
  let notSentCount = 0;
  for (const [transferId, group] of groups) {
    const first = group[0]!;
    // The row that says how the call ended (a resolution only adds what reading the provider showed).
    const last = [...group].reverse().find((e) => e.outcome !== 'resolved') ?? group[group.length - 1]!;
    if (last.outcome === 'blocked' || last.outcome === 'not_modified') {
      refusedCount += last.outcome === 'blocked' ? 1 : 0;
      continue;
    }
    if (last.outcome === 'not_sent') {
      notSentCount++;
      continue;
    }
    const { delivery, resolution } = deliveryOf(group);
    transfers.push({
      transferId,
      direction: first.direction,
      operation: first.operation,
      purpose: first.purpose,
      counterparty: { platform: first.platform, account: first.recipientAccount, destination: first.recipientDestination },
      connectionId: first.connectionId,
      userId: first.userId,
      categories: first.categories,
      fieldNames: first.fieldNames,
      consent: first.consentId ? { id: first.consentId, version: first.consentVersion } : null,
      startedAt: first.createdAt.toISOString(),
      completedAt: last === first ? null : last.createdAt.toISOString(),
      delivery,
      resolution,
      providerStatus: last.providerStatus,
      remoteId: last.remoteId,
      actor: first.actor as TransferActor,
      payloadSha256: first.payloadSha256,
      payloadBytes: last.payloadBytes,
      logRowIds: group.map((g) => g.id),
    });
  }
  return {
    organizationId: params.organizationId,
    subject: params.subject,
    generatedAt: new Date().toISOString(),
    recipients: tallyCounterparties(transfers, 'outbound'),
    sources: tallyCounterparties(transfers, 'inbound'),
    transfers,
    refusedCount,
    notSentCount,
  };
}
