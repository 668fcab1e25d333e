import { CompiledQuery, sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import type { ChangeFeed, DataChange } from './change-feed.ts';
import { IngestError, type IngestProblem } from './errors.ts';
import {
  type ContentRow,
  caseRow,
  contactRow,
  documentRow,
  eventRow,
  type StoredContent,
  TABLE_SPECS,
  type TableSpec,
} from './rows.ts';
import type { CaseData, ContactData, DocumentMetadata, EntityType, EventData } from './schemas.ts';

/**
 * Applies upserts and deletes of case data in one transaction: all or nothing. Records are keyed by
 * (organization, external id); an upsert whose content equals the stored row changes nothing (same
 * version, same updated_at), so the case-management app may resend freely. Deletes leave tombstones
 * (deleted_at set, version + 1); deleting a case tombstones its events, documents and contacts.
 * After commit the organization's data_version has moved and a DataChange is published.
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
}

export interface IngestDeps {
  db: Db;
  changeFeed: ChangeFeed;
  logger?: Logger;
}

/** Rows per statement: keeps every statement far below PostgreSQL's 65,535 parameters. */
const CHUNK = 1000;

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
  readonly problems: IngestProblem[] = [];
  readonly conflicts: IngestProblem[] = [];
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
   * bulks from deadlocking each other) and keeps the items whose `ifVersion` matches.
   */
  private async lockAndCheck<I extends { index: number; externalId: string; ifVersion?: IfVersion }>(
    spec: TableSpec,
    items: I[],
  ): Promise<{ existing: Map<string, Existing>; allowed: I[] }> {
    items.sort((a, b) => (a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0));
    const existing = await this.existing(
      spec,
      items.map((i) => i.externalId),
    );
    return { existing, allowed: items.filter((i) => this.versionMatches(i, existing.get(i.externalId))) };
  }

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
    for (const item of writable) {
      const before = existing.get(item.externalId);
      const after = changed.get(item.externalId);
      if (after) {
        this.entities.add(type);
        if (after.case_id) this.touchedCases.add(after.case_id);
        if (before?.case_id) this.touchedCases.add(before.case_id);
      }
      const id = after?.id ?? before!.id;
      this.outcomes[item.index] = {
        index: item.index,
        type,
        externalId: item.externalId,
        status: !before ? 'created' : after ? 'updated' : 'unchanged',
        id,
        version: after?.version ?? before!.version,
        deleted: false,
      };
    }
  }

  /** Internal ids of live cases by external id; records an `unknown_case` problem for each miss. */
  async resolveCases(refs: Array<{ index: number; externalId: string; caseExternalId: string }>): Promise<Map<string, string>> {
    const wanted = [...new Set(refs.map((r) => r.caseExternalId))];
    const ids = new Map<string, string>();
    if (wanted.length) {
      const { rows } = await sql<{ id: string; external_id: string }>`
        SELECT id, external_id FROM cases
        WHERE organization_id = ${this.organizationId} AND deleted_at IS NULL AND external_id = ANY(${wanted}::text[])`.execute(this.tx);
      for (const r of rows) ids.set(r.external_id, r.id);
    }
    for (const ref of refs) {
      if (!ids.has(ref.caseExternalId)) {
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

/** Applies the commands in one transaction (see the file comment); publishes the change after commit. */
export async function applyIngest(
  deps: IngestDeps,
  params: { organizationId: string; commands: IngestCommand[] },
): Promise<IngestResult> {
  const { organizationId, commands } = params;
  const duplicates = findDuplicates(commands);
  if (duplicates.length) throw new IngestError('duplicate_item', 'the request names a record more than once', duplicates);

  const result = await deps.db.transaction().execute(async (tx) => {
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

    // Cases first, so events, documents and contacts of the same request can refer to them.
    await run.upsert(
      'case',
      upserts.case.map((c) => ({ index: c.index, externalId: c.externalId, ifVersion: c.ifVersion, row: caseRow(c.data as CaseData) })),
    );
    const refs = [...upserts.event, ...upserts.document, ...upserts.contact].flatMap((c) => {
      const caseExternalId = (c.data as { caseExternalId: string | null }).caseExternalId;
      return caseExternalId ? [{ index: c.index, externalId: c.externalId, caseExternalId }] : [];
    });
    const caseIds = await run.resolveCases(refs);
    const caseOf = (d: { caseExternalId: string | null }) => (d.caseExternalId ? caseIds.get(d.caseExternalId) : null);
    const pending = <T extends UpsertCommand & { index: number }>(list: T[], toRow: (c: T, caseId: string | null) => ContentRow) =>
      list.flatMap((c) => {
        const caseId = caseOf(c.data as { caseExternalId: string | null });
        if (caseId === undefined) return []; // unknown case: reported as a problem, nothing to write
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
      throw new IngestError('unknown_case', 'some items refer to cases that do not exist', run.problems.sort(byIndex));
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
    return { outcomes: run.outcomes, change, cascaded: run.cascaded };
  });

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
