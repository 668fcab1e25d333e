import { type RawBuilder, sql } from 'kysely';
import { INT4_MAX, isInstantInRange } from './ranges.ts';

/**
 * The one page cursor of every list: a keyset position, `(sort value, key)` of the last item of a
 * page, base64url-encoded. The sort value is a time (lists ordered by `created_at`), a non-negative
 * integer (a version) or a string (an e-mail address, a platform id); the key is a unique string that
 * breaks ties (a UUID, a session handle, a domain). Opaque to clients; decoding accepts only what
 * {@link encodeKeysetCursor} could have written for the list at hand, so a forged cursor, or one of
 * another list, is a 400 `invalid_cursor` and never a database error (a time out of the database's
 * range, an id that is not a UUID, an integer out of range, a NUL byte).
 *
 * Encoding (before base64url): `<sort>|<key>`, the sort value as `toISOString()` for a time (the
 * `(created_at, id)` cursors this API has always returned), `#<decimal>` for an integer, `~<text>`
 * for a string. Keys never contain `|`, so the last `|` separates the two.
 */

export type SortKind = 'time' | 'int' | 'string';
export type SortValue = Date | number | string;
type SortValueOf<K extends SortKind> = K extends 'time' ? Date : K extends 'int' ? number : string;

/** A row's position in a `(sort value, key)` ordering. */
export interface KeysetCursor<S extends SortValue = SortValue> {
  sort: S;
  key: string;
}

/** What a list's cursor must hold: the kind of its sort value and the shape of its key. */
export interface KeysetSpec<K extends SortKind> {
  sort: K;
  key: RegExp;
}

/** A UUID key (most lists' tiebreak). */
export const UUID_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Encodes the position after which the next page starts. */
export function encodeKeysetCursor(sort: SortValue, key: string): string {
  const head = sort instanceof Date ? sort.toISOString() : typeof sort === 'number' ? `#${sort}` : `~${sort}`;
  return Buffer.from(`${head}|${key}`).toString('base64url');
}

/** Decodes a cursor of a list shaped by `spec`; null when it is not one this API could have returned for it. */
export function decodeKeysetCursor<K extends SortKind>(cursor: string, spec: KeysetSpec<K>): KeysetCursor<SortValueOf<K>> | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.lastIndexOf('|');
  if (bar < 0) return null;
  const head = text.slice(0, bar);
  const key = text.slice(bar + 1);
  if (key.includes('|') || !spec.key.test(key)) return null;
  const sort = decodeSort(head, spec.sort);
  return sort === null ? null : { sort: sort as SortValueOf<K>, key };
}

function decodeSort(head: string, kind: SortKind): SortValue | null {
  if (kind === 'time') {
    const at = new Date(head);
    // Round trip: only `toISOString()` output (24 characters, years 0001–9999) is a time we wrote.
    return Number.isNaN(at.getTime()) || !isInstantInRange(at) || at.toISOString() !== head ? null : at;
  }
  if (kind === 'int') {
    if (!/^#(0|[1-9][0-9]{0,9})$/.test(head)) return null;
    const n = Number(head.slice(1));
    return n <= INT4_MAX ? n : null;
  }
  // PostgreSQL text cannot hold NUL.
  return head.startsWith('~') && !head.includes('\u0000') ? head.slice(1) : null;
}

/**
 * Keyset paging in SQL over `(sort, key)`: `sort` and `key` are SQL expressions, compared as
 * `sortType` and `keyType`. A time kept with microseconds (set by `now()`) must be truncated to
 * milliseconds by the caller's expression, as the cursor holds milliseconds. `orderBy` goes into
 * `.orderBy(...)`, `after` into `.where(...)`.
 */
export function keysetSql(params: {
  sort: RawBuilder<unknown>;
  key: RawBuilder<unknown>;
  sortType: 'timestamptz' | 'integer' | 'text';
  keyType: 'uuid' | 'text';
  direction: 'asc' | 'desc';
}) {
  const { sort, key, direction } = params;
  const dir = sql.raw(direction);
  const op = sql.raw(direction === 'desc' ? '<' : '>');
  const sortType = sql.raw(params.sortType);
  const keyType = sql.raw(params.keyType);
  return {
    orderBy: [sql`${sort} ${dir}`, sql`${key} ${dir}`] as const,
    after: (cursor: KeysetCursor): RawBuilder<boolean> => {
      const value = cursor.sort instanceof Date ? cursor.sort.toISOString() : cursor.sort;
      return sql<boolean>`(${sort}, ${key}) ${op} (${value}::${sortType}, ${cursor.key}::${keyType})`;
    },
  };
}

/** The next cursor of a page fetched with `limit + 1` rows, positioned by `at`. */
export function nextKeysetCursor<R>(rows: R[], limit: number, at: (row: R) => KeysetCursor): string | null {
  const last = rows[Math.min(rows.length, limit) - 1];
  if (rows.length <= limit || last === undefined) return null;
  const { sort, key } = at(last);
  return encodeKeysetCursor(sort, key);
}

/**
 * One page of a list held in memory (a handful of rows: sessions in Redis, the platforms), with the
 * same cursor as the lists paged in SQL: sorted by `(sort, key)`, the page after `cursor`.
 */
export function keysetPage<T>(
  all: readonly T[],
  params: { at: (item: T) => KeysetCursor; direction: 'asc' | 'desc'; limit: number; cursor: KeysetCursor | null },
): { items: T[]; nextCursor: string | null } {
  const sign = params.direction === 'asc' ? 1 : -1;
  const sorted = all.map((item) => ({ item, at: params.at(item) })).sort((a, b) => sign * compareKeyset(a.at, b.at));
  const { cursor } = params;
  const rest = cursor ? sorted.filter((r) => sign * compareKeyset(r.at, cursor) > 0) : sorted;
  return { items: rest.slice(0, params.limit).map((r) => r.item), nextCursor: nextKeysetCursor(rest, params.limit, (r) => r.at) };
}

function compareKeyset(a: KeysetCursor, b: KeysetCursor): number {
  const x = a.sort instanceof Date ? a.sort.getTime() : a.sort;
  const y = b.sort instanceof Date ? b.sort.getTime() : b.sort;
  if (x !== y) return x < y ? -1 : 1;
  return a.key === b.key ? 0 : a.key < b.key ? -1 : 1;
}

// The `(created_at, id)` cursor of most lists: a time and a UUID, newest first.

/** A row's position in a (created_at, id) ordering. */
export interface TimeIdCursor {
  at: Date;
  id: string;
}

export const TIME_ID: KeysetSpec<'time'> = { sort: 'time', key: UUID_KEY };

/** Encodes the position after which the next page starts. */
export function encodeTimeIdCursor(at: Date, id: string): string {
  return encodeKeysetCursor(at, id);
}

/** Decodes a cursor; null when it is not one this API could have returned. */
export function decodeTimeIdCursor(cursor: string): TimeIdCursor | null {
  const decoded = decodeKeysetCursor(cursor, TIME_ID);
  return decoded && { at: decoded.sort, id: decoded.key };
}

/**
 * Keyset paging over a table whose `created_at` keeps microseconds (set by `now()`): the cursor holds
 * milliseconds, so rows are ordered and compared by the time truncated to milliseconds, then id.
 * `orderBy` goes into `.orderBy(...)` (newest first), `after` into `.where(...)`.
 */
export function timeIdKeyset(table: string) {
  const keyset = keysetSql({
    sort: sql.raw(`date_trunc('milliseconds', ${table}.created_at)`),
    key: sql.ref(`${table}.id`),
    sortType: 'timestamptz',
    keyType: 'uuid',
    direction: 'desc',
  });
  return { orderBy: keyset.orderBy, after: (cursor: TimeIdCursor) => keyset.after({ sort: cursor.at, key: cursor.id }) };
}

/** The next cursor of a page fetched with `limit + 1` rows. */
export function nextTimeIdCursor<R extends { created_at: Date; id: string }>(rows: R[], limit: number): string | null {
  return nextKeysetCursor(rows, limit, (r) => ({ sort: r.created_at, key: r.id }));
}
