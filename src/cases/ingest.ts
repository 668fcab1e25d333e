import { CompiledQuery, sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import type { ChangeFeed, DataChange } from './change-feed.ts';
import { IngestError, type IngestProblem } from './errors.ts';
import { findByExternalId, type ResourceByType } from './lookup.ts';
import { type ContentRow, caseRow, contactRow, documentRow, eventRow, type StoredContent, TABLE_SPECS, type TableSpec } from './rows.ts';
import type { CaseData, ContactData, DocumentMetadata, EntityType, EventData } from './schemas.ts';

/**
 * Applies upserts and deletes of case data in one transaction: all or nothing. Records are keyed by
 * (organization, external id); an upsert whose content equals the stored row changes nothing (same
 * version, same updated_at), so the case-management app may resend freely. Deletes leave tombstones
 * (deleted_at set, version + 1); deleting a case tombstones its events, documents and contacts.
 * After commit the organization's data_version has moved and a DataChange is published.
 *
 * Parent before child, always. Every transaction first locks the case rows it names, in one
 * statement in external-id order: FOR UPDATE when it writes or deletes cases, else FOR SHARE for the
 * cases its events, documents and contacts refer to. A child write and the delete of its case
 * therefore serialize: either the child commits first and the cascade tombstones it, or the delete
 * commits first and the child write sees the tombstone and is refused with `case_deleted`. No child
 * can stay live under a deleted case.
 *
 * Reviving a case (upserting it again after its delete) revives only the case: the children deleted
 * with it stay tombstoned, so nothing is republished to a connected platform until the app sends
 * each child again (a PUT of a tombstoned child revives it, version + 1).
 */

/** Expected version: a number, or `*` (the record must exist and not be deleted). */
export type IfVersion = number | '*';

export type IngestCommand =
  | { op: 'upsert'; type: 'case'; externalId: string; data: CaseData; ifVersion?: IfVersion }
  | { op: 'upsert'; type: 'event'; externalId: string; data: EventData; ifVersion?: IfVersion }
  | {
      op: 'upsert';
      type: 'document';
      externalId: string;
      data: DocumentMetadata;
      /** The bytes, already in the blob store (content-addressed, so an orphan after a rollback is harmless). */
      content: StoredContent;
      ifVersion?: IfVersion;
    }
  | { op: 'upsert'; type: 'contact'; externalId: string; data: ContactData; ifVersion?: IfVersion }
  | { op: 'delete'; type: EntityType; externalId: string; ifVersion?: IfVersion };

type UpsertCommand = Extract<IngestCommand, { op: 'upsert' }>;

export type ItemStatus = 'created' | 'updated' | 'unchanged' | 'deleted' | 'not_found';

export interface ItemOutcome {
  index: number;
  type: EntityType;
  externalId: string;
  status: ItemStatus;
  /** Internal id (null when not found). */
  id: string | null;
  version: number | null;
  deleted: boolean;
}

export interface IngestResult {
  outcomes: ItemOutcome[];
  /** What was published (null when nothing changed). */
  change: DataChange | null;
  /** Counts of children tombstoned because their case was deleted. */
  cascaded: number;
  /**
   * With `readBack`: each command's record as this transaction left it (null when not found), read
   * inside the transaction while it still holds the row's lock, so no concurrent request's write
   * can show through.
   */
  records?: Array<ResourceByType[EntityType] | null>;
}

export interface IngestDeps {
  db: Db;
  changeFeed: ChangeFeed;
  logger?: Logger;
}

/** Rows per statement: keeps every statement far below PostgreSQL's 65,535 parameters. */
const CHUNK = 1000;

/** Attempts of a transaction PostgreSQL rolled back to break a deadlock (SQLSTATE 40P01). */
const DEADLOCK_ATTEMPTS = 3;

interface Existing {
  id: string;
  external_id: string;
  version: number;
  deleted: boolean;
  case_id: string | null;
}

interface Pending {
  index: number;
  externalId: string;
  ifVersion?: IfVersion;
  row: ContentRow;
}

/** One transaction's work: outcomes, problems and what changed. */
class IngestRun {
  readonly outcomes: ItemOutcome[];
  /** Items naming a case that never existed (`unknown_case`). */
  readonly problems: IngestProblem[] = [];
  /** Items naming a case that is a tombstone (`case_deleted`). */
  readonly deletedCases: IngestProblem[] = [];
  readonly conflicts: IngestProblem[] = [];
  /** The case rows locked by {@link lockCases}, by external id. */
  private caseLocks = new Map<string, Existing>();
  readonly touchedCases = new Set<string>();
  readonly entities = new Set<EntityType>();
  cascaded = 0;

  constructor(
    private readonly tx: Tx,
    private readonly organizationId: string,
    size: number,
  ) {
    this.outcomes = new Array(size);
  }

  /**
   * Locks the case rows the request names before any other row (see the file comment): the cases it
   * writes and the cases its children refer to, in one statement in external-id order, so two
   * transactions always take their case locks in the same order. FOR UPDATE when the request writes
   * cases (a delete must wait for every child write under way, and they for it); FOR SHARE when it
   * only refers to them (child writes of one case do not wait for each other). Tombstones are locked
   * and read too: a child write that waited for a delete then sees `deleted`.
   */
  async lockCases(params: { written: string[]; referenced: string[] }): Promise<void> {
    const ids = [...new Set([...params.written, ...params.referenced])];
    if (!ids.length) return;
    const mode = params.written.length ? sql`FOR UPDATE` : sql`FOR SHARE`;
    const { rows } = await sql<Existing>`
      SELECT id, external_id, version, deleted_at IS NOT NULL AS deleted, id AS case_id
      FROM cases
      WHERE organization_id = ${this.organizationId} AND external_id = ANY(${ids}::text[])
      ORDER BY external_id
      ${mode}`.execute(this.tx);
    for (const r of rows) this.caseLocks.set(r.external_id, r);
  }

  /** Locks and reads the rows of these external ids (FOR UPDATE: no one changes them until we commit). */
  async existing(spec: TableSpec, externalIds: string[]): Promise<Map<string, Existing>> {
    const found = new Map<string, Existing>();
    // One array parameter instead of one parameter per id: far less to bind, same index lookups.
    const { rows } = await sql<Existing>`
      SELECT id, external_id, version, deleted_at IS NOT NULL AS deleted, ${sql.ref(spec.caseColumn)} AS case_id
      FROM ${sql.table(spec.table)}
      WHERE organization_id = ${this.organizationId} AND external_id = ANY(${externalIds}::text[])
      ORDER BY external_id
      FOR UPDATE`.execute(this.tx);
    for (const r of rows) found.set(r.external_id, r);
    return found;
  }

  /** Records a conflict when the item names a version the row does not have; true when it may proceed. */
  private versionMatches(item: { index: number; externalId: string; ifVersion?: IfVersion }, row: Existing | undefined) {
    if (item.ifVersion === undefined) return true;
    const ok = item.ifVersion === '*' ? row !== undefined && !row.deleted : row?.version === item.ifVersion;
    if (!ok) {
      this.conflicts.push({
        index: item.index,
        externalId: item.externalId,
        message:
          item.ifVersion === '*'
            ? 'If-Match: * but the record does not exist'
            : `expected version ${item.ifVersion}, the record ${row ? `has version ${row.version}` : 'does not exist'}`,
        currentVersion: row?.version ?? null,
      });
    }
    return ok;
  }

  /**
   * Locks the rows the items name (in external-id order: a stable lock order keeps two concurrent
   * bulks from deadlocking each other) and keeps the items whose `ifVersion` matches. Cases were
   * locked already by {@link lockCases}; their rows are taken from there.
   */
  private async lockAndCheck<I extends { index: number; externalId: string; ifVersion?: IfVersion }>(
    spec: TableSpec,
    items: I[],
  ): Promise<{ existing: Map<string, Existing>; allowed: I[] }> {
    items.sort((a, b) => (a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0));
    const existing =
      spec.table === 'cases'
        ? this.caseLocks
        : await this.existing(
            spec,
            items.map((i) => i.externalId),
          );
    return { existing, allowed: items.filter((i) => this.versionMatches(i, existing.get(i.externalId))) };
  }

  /**
   * Writes the items and records each one's outcome from the write itself: `created` when the
   * statement inserted the row (version 1: an update always makes it 2 or more), so of concurrent
   * creates of one record exactly one is `created`.
   */
  async upsert(type: EntityType, items: Pending[]): Promise<void> {
    if (!items.length) return;
    const spec = TABLE_SPECS[type];
    const { existing, allowed: writable } = await this.lockAndCheck(spec, items);
    const changed = new Map<string, { id: string; version: number; case_id: string | null }>();
    for (const chunk of chunks(writable, CHUNK)) {
      for (const r of await upsertRows(this.tx, { spec, organizationId: this.organizationId, items: chunk })) {
        changed.set(r.external_id, r);
      }
    }
    // Neither there when we locked nor written now: a concurrent request created the row in between
    // with the same content. Our INSERT's ON CONFLICT locked that row all the same; read it under the lock.
    const unseen = writable.filter((i) => !existing.has(i.externalId) && !changed.has(i.externalId)).map((i) => i.externalId);
    const createdMeanwhile = unseen.length ? await this.existing(spec, unseen) : new Map<string, Existing>();
    for (const item of writable) {
      const before = existing.get(item.externalId) ?? createdMeanwhile.get(item.externalId);
      const after = changed.get(item.externalId);
      if (after) {
        this.entities.add(type);
        if (after.case_id) this.touchedCases.add(after.case_id);
        if (before?.case_id) this.touchedCases.add(before.case_id);
      }
      const now = after ?? before;
      if (!now) throw new Error(`${type} "${item.externalId}" was neither written nor found`); // the unique key makes this impossible
      this.outcomes[item.index] = {
        index: item.index,
        type,
        externalId: item.externalId,
        status: !after ? 'unchanged' : after.version === 1 ? 'created' : 'updated',
        id: now.id,
        version: now.version,
        deleted: false,
      };
    }
  }

  /**
   * Internal ids of the live cases the items refer to: cases upserted by this request, else the rows
   * {@link lockCases} locked. Records an `unknown_case` problem for a case that does not exist and a
   * `case_deleted` one for a tombstone. No query: the locks were taken before anything was written.
   */
  resolveCases(refs: Array<{ index: number; type: EntityType; externalId: string; caseExternalId: string }>): Map<string, string> {
    const ids = new Map<string, string>();
    for (const o of this.outcomes) if (o?.type === 'case' && o.id && !o.deleted) ids.set(o.externalId, o.id);
    for (const ref of refs) {
      if (ids.has(ref.caseExternalId)) continue;
      const row = this.caseLocks.get(ref.caseExternalId);
      if (row && !row.deleted) {
        ids.set(ref.caseExternalId, row.id);
      } else if (row) {
        this.deletedCases.push({
          index: ref.index,
          externalId: ref.externalId,
          field: 'caseExternalId',
          message: `the case "${ref.caseExternalId}" was deleted; send the case again to revive it before adding a ${ref.type} to it`,
        });
      } else {
        this.problems.push({
          index: ref.index,
          externalId: ref.externalId,
          field: 'caseExternalId',
          message: `no case with external id "${ref.caseExternalId}" (create it first, or in the same bulk)`,
        });
      }
    }
    return ids;
  }

  async delete(type: EntityType, items: Array<{ index: number; externalId: string; ifVersion?: IfVersion }>): Promise<void> {
    if (!items.length) return;
    const spec = TABLE_SPECS[type];
    const { existing, allowed } = await this.lockAndCheck(spec, items);
    const live: string[] = [];
    for (const item of allowed) {
      const row = existing.get(item.externalId);
      if (row && !row.deleted) live.push(row.id);
    }
    const tombstoned = new Map<string, { version: number; case_id: string | null }>();
    if (live.length) {
      const { rows } = await sql<{ id: string; version: number; case_id: string | null }>`
        UPDATE ${sql.table(spec.table)} SET deleted_at = now(), updated_at = now(), version = version + 1
        WHERE id = ANY(${live}::uuid[])
        RETURNING id, version, ${sql.ref(spec.caseColumn)} AS case_id`.execute(this.tx);
      for (const r of rows) tombstoned.set(r.id, r);
    }
    for (const item of allowed) {
      const row = existing.get(item.externalId);
      const now = row ? tombstoned.get(row.id) : undefined;
      if (now) {
        this.entities.add(type);
        if (now.case_id) this.touchedCases.add(now.case_id);
      }
      this.outcomes[item.index] = {
        index: item.index,
        type,
        externalId: item.externalId,
        status: !row ? 'not_found' : now ? 'deleted' : 'unchanged',
        id: row?.id ?? null,
        version: now?.version ?? row?.version ?? null,
        deleted: row !== undefined,
      };
    }
    if (type === 'case' && tombstoned.size) await this.cascade([...tombstoned.keys()]);
  }

  /** Tombstones the live events, documents and contacts of deleted cases. */
  private async cascade(caseIds: string[]): Promise<void> {
    for (const child of ['event', 'document', 'contact'] as const) {
      const { rows } = await sql<{ id: string }>`
        UPDATE ${sql.table(TABLE_SPECS[child].table)} SET deleted_at = now(), updated_at = now(), version = version + 1
        WHERE organization_id = ${this.organizationId} AND case_id = ANY(${caseIds}::uuid[]) AND deleted_at IS NULL
        RETURNING id`.execute(this.tx);
      if (rows.length) {
        this.entities.add(child);
        this.cascaded += rows.length;
      }
    }
  }
}

/**
 * One multi-row `INSERT … ON CONFLICT (organization_id, external_id) DO UPDATE … WHERE <content
 * differs or the row is a tombstone>`. Returns only the rows inserted or changed: an identical resend
 * fails the WHERE, so it is neither written nor returned.
 *
 * The rows travel as ONE jsonb parameter (an array of `{external_id, <content columns>}` objects)
 * that `jsonb_populate_recordset` turns into rows of the table's own type, so every value is converted
 * by the column's type exactly as a bind parameter would be. One parameter instead of 13,000 for a
 * bulk of 1,000 events: far less for the driver to bind and for the server to parse and plan (the
 * ingest benchmark moved from 0.44–0.49 to 0.45–0.54 of a raw INSERT on PostgreSQL, from 0.61–0.63
 * to 0.67–0.71 on PGlite). Identifiers come from TABLE_SPECS (constants); the organization id is
 * bound as $1. Strings reach here validated (no NUL, well-formed UTF-16: see `schemas.ts`), so their
 * JSON is valid jsonb input.
 */
async function upsertRows(
  tx: Tx,
  params: { spec: TableSpec; organizationId: string; items: Pending[] },
): Promise<Array<{ id: string; external_id: string; version: number; case_id: string | null }>> {
  const { spec, organizationId, items } = params;
  const cols = spec.contentColumns;
  const json = new Set(spec.jsonColumns);
  const records = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    let record = `{"external_id":${JSON.stringify(it.externalId)}`;
    for (const c of cols) {
      const v = it.row[c] ?? null;
      // jsonb columns hold JSON text already: embed it as the value, not as a string.
      record += `,"${c}":${v === null ? 'null' : json.has(c) ? v : JSON.stringify(v)}`;
    }
    records[i] = `${record}}`;
  }
  const t = `"${spec.table}"`;
  const text =
    `INSERT INTO ${t} (organization_id, external_id, ${cols.map((c) => `"${c}"`).join(', ')})\n` +
    `SELECT $1, x.external_id, ${cols.map((c) => `x."${c}"`).join(', ')} FROM jsonb_populate_recordset(NULL::${t}, $2::jsonb) AS x\n` +
    'ON CONFLICT (organization_id, external_id) DO UPDATE\n' +
    `  SET ${cols.map((c) => `"${c}" = excluded."${c}"`).join(', ')}, version = ${t}.version + 1, updated_at = now(), deleted_at = NULL\n` +
    `  WHERE (${cols.map((c) => `${t}."${c}"`).join(', ')}) IS DISTINCT FROM (${cols.map((c) => `excluded."${c}"`).join(', ')})` +
    ` OR ${t}.deleted_at IS NOT NULL\n` +
    `RETURNING id, external_id, version, "${spec.caseColumn}" AS case_id`;
  const result = await tx.executeQuery<{ id: string; external_id: string; version: number; case_id: string | null }>(
    CompiledQuery.raw(text, [organizationId, `[${records.join(',')}]`]),
  );
  return result.rows;
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Refuses a request naming the same record twice (its outcome would depend on order). */
export function findDuplicates(commands: Array<{ type: EntityType; externalId: string }>): IngestProblem[] {
  const seen = new Map<string, number>();
  const problems: IngestProblem[] = [];
  commands.forEach((c, index) => {
    const key = `${c.type}\u0000${c.externalId}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, index);
    else
      problems.push({
        index,
        externalId: c.externalId,
        message: `${c.type} "${c.externalId}" already appears at index ${first}; send each record once per request`,
      });
  });
  return problems;
}

/** True for the error PostgreSQL raises in the transaction it rolls back to break a deadlock. */
function isDeadlock(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '40P01';
}

/**
 * Applies the commands in one transaction (see the file comment); publishes the change after commit.
 * With `readBack`, also answers each command's record as the transaction left it (for the single-record
 * routes: their body and ETag must show what this request wrote, not what another wrote since).
 */
export async function applyIngest(deps: IngestDeps, params: { organizationId: string; commands: IngestCommand[]; readBack?: boolean }): Promise<IngestResult> {
  const { organizationId, commands } = params;
  const duplicates = findDuplicates(commands);
  if (duplicates.length) throw new IngestError('duplicate_item', 'the request names a record more than once', duplicates);

  const work = async (tx: Tx): Promise<IngestResult> => {
    const run = new IngestRun(tx, organizationId, commands.length);
    const upserts: Record<EntityType, Array<UpsertCommand & { index: number }>> = {
      case: [],
      event: [],
      document: [],
      contact: [],
    };
    const deletes: Record<EntityType, Array<{ index: number; externalId: string; ifVersion?: IfVersion }>> = {
      case: [],
      event: [],
      document: [],
      contact: [],
    };
    commands.forEach((c, index) => {
      if (c.op === 'upsert') upserts[c.type].push({ ...c, index });
      else deletes[c.type].push({ index, externalId: c.externalId, ifVersion: c.ifVersion });
    });
    const refs = [...upserts.event, ...upserts.document, ...upserts.contact].flatMap((c) => {
      const caseExternalId = (c.data as { caseExternalId: string | null }).caseExternalId;
      return caseExternalId ? [{ index: c.index, type: c.type, externalId: c.externalId, caseExternalId }] : [];
    });

    // Parent rows first, before any child row is locked or written (see the file comment).
    await run.lockCases({
      written: [...upserts.case, ...deletes.case].map((c) => c.externalId),
      referenced: refs.map((r) => r.caseExternalId),
    });
    // Cases first, so events, documents and contacts of the same request can refer to them.
    await run.upsert(
      'case',
      upserts.case.map((c) => ({ index: c.index, externalId: c.externalId, ifVersion: c.ifVersion, row: caseRow(c.data as CaseData) })),
    );
    const caseIds = run.resolveCases(refs);
    const caseOf = (d: { caseExternalId: string | null }) => (d.caseExternalId ? caseIds.get(d.caseExternalId) : null);
    const pending = <T extends UpsertCommand & { index: number }>(list: T[], toRow: (c: T, caseId: string | null) => ContentRow) =>
      list.flatMap((c) => {
        const caseId = caseOf(c.data as { caseExternalId: string | null });
        if (caseId === undefined) return []; // unknown or deleted case: reported as a problem, nothing to write
        return [{ index: c.index, externalId: c.externalId, ifVersion: c.ifVersion, row: toRow(c, caseId) }];
      });
    await run.upsert(
      'event',
      pending(upserts.event, (c, caseId) => eventRow(c.data as EventData, caseId!)),
    );
    await run.upsert(
      'document',
      pending(upserts.document, (c, caseId) => {
        const doc = c as Extract<IngestCommand, { type: 'document'; op: 'upsert' }>;
        return documentRow(doc.data, doc.content, caseId!);
      }),
    );
    await run.upsert(
      'contact',
      pending(upserts.contact, (c, caseId) => contactRow(c.data as ContactData, caseId)),
    );
    // Children before cases, so a case deleted together with its events reports each event's own delete.
    for (const type of ['contact', 'document', 'event', 'case'] as const) await run.delete(type, deletes[type]);

    const byIndex = (x: IngestProblem, y: IngestProblem) => x.index - y.index;
    if (run.problems.length) {
      // A case that never existed is the graver mistake; items naming deleted cases are listed with it.
      throw new IngestError('unknown_case', 'some items refer to cases that do not exist', [...run.problems, ...run.deletedCases].sort(byIndex));
    }
    if (run.deletedCases.length) {
      throw new IngestError('case_deleted', 'some items refer to deleted cases; send a case again to revive it', run.deletedCases.sort(byIndex));
    }
    if (run.conflicts.length) {
      throw new IngestError('version_conflict', 'the record has changed since the version you sent', run.conflicts.sort(byIndex));
    }
    let change: DataChange | null = null;
    if (run.entities.size) {
      await tx
        .updateTable('organizations')
        .set((eb) => ({ data_version: eb('data_version', '+', 1) }))
        .where('id', '=', organizationId)
        .execute();
      change = { organizationId, caseIds: [...run.touchedCases].sort(), entities: [...run.entities].sort() };
    }
    let records: IngestResult['records'];
    if (params.readBack) {
      records = [];
      // Still inside the transaction: every row read here is locked by it, so it shows this write.
      for (const c of commands) records.push(await findByExternalId(tx, { organizationId, type: c.type, externalId: c.externalId }));
    }
    return { outcomes: run.outcomes, change, cascaded: run.cascaded, ...(records ? { records } : {}) };
  };

  let result: IngestResult | undefined;
  for (let attempt = 1; !result; attempt++) {
    try {
      result = await deps.db.transaction().execute(work);
    } catch (err) {
      // PostgreSQL broke a lock cycle with a bulk that took the same rows in another order (the parent-
      // first order rules out the cycles of single-record requests). The transaction rolled back whole
      // and the commands are idempotent, so running them again is safe.
      if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(err)) throw err;
      deps.logger?.warn({ organizationId, attempt }, 'ingest transaction deadlocked; retrying');
    }
  }

  // Only after commit: a rolled-back request never reaches here, so it is never announced.
  if (result.change) {
    try {
      await deps.changeFeed.publish(result.change);
    } catch (err) {
      // The write is committed; the periodic full reconcile picks it up even without the notification.
      deps.logger?.error({ err, organizationId }, 'publishing a data change failed');
    }
  }
  return result;
}
