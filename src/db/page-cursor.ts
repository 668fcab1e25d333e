import { type RawBuilder, sql } from 'kysely';
import { isInstantInRange } from './ranges.ts';

/**
 * The page cursor of lists ordered by (created_at, id), newest first: the last row's time and id,
 * base64url-encoded. Opaque to clients; decoding accepts only what {@link encodeTimeIdCursor} could
 * have written, so a forged cursor is a 400 `invalid_cursor` and never a database error (a time out
 * of the database's range, an id that is not a UUID).
 */

/** A row's position in a (created_at, id) ordering. */
export interface TimeIdCursor {
  at: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Encodes the position after which the next page starts. */
export function encodeTimeIdCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

/** Decodes a cursor; null when it is not one this API could have returned. */
export function decodeTimeIdCursor(cursor: string): TimeIdCursor | null {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (parts.length !== 2) return null;
  const [iso, id] = parts as [string, string];
  const at = new Date(iso);
  // Round trip: only `toISOString()` output (24 characters, years 0001–9999) is a time we wrote.
  if (Number.isNaN(at.getTime()) || !isInstantInRange(at) || at.toISOString() !== iso) return null;
  if (!UUID.test(id)) return null;
  return { at, id };
}

/**
 * Keyset paging over a table whose `created_at` keeps microseconds (set by `now()`): the cursor holds
 * milliseconds, so rows are ordered and compared by the time truncated to milliseconds, then id.
 * `orderBy` goes into `.orderBy(...)` (newest first), `after` into `.where(...)`.
 */
export function timeIdKeyset(table: string) {
  const time = sql.raw(`date_trunc('milliseconds', ${table}.created_at)`);
  const id = sql.ref(`${table}.id`);
  return {
    orderBy: [sql`${time} desc`, sql`${id} desc`] as const,
    after: (cursor: TimeIdCursor): RawBuilder<boolean> => sql<boolean>`(${time}, ${id}) < (${cursor.at.toISOString()}::timestamptz, ${cursor.id}::uuid)`,
  };
}

/** The next cursor of a page fetched with `limit + 1` rows. */
export function nextTimeIdCursor<R extends { created_at: Date; id: string }>(rows: R[], limit: number): string | null {
  const last = rows[Math.min(rows.length, limit) - 1];
  return rows.length > limit && last ? encodeTimeIdCursor(last.created_at, last.id) : null;
}
