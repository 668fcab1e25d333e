import { z } from 'zod';

/**
 * Values the database (and the API's own ISO 8601 answers) can hold, checked at the edge so that an
 * out-of-range value is a 400 naming the field instead of a database error deep inside a request —
 * a 500, and for a bulk a rolled-back transaction.
 *
 * Instants: years 0001–9999 in UTC. PostgreSQL rejects year 0 as JavaScript writes it, and a year
 * beyond 9999 is written `+010000-…`, which no ISO 8601 date-time field of this API accepts back.
 * The bound is on the UTC instant, so `0001-01-01T00:00:00+14:00` (year 0 in UTC) is refused too.
 */

/** The largest value of a PostgreSQL `integer` column (versions, counters). */
export const INT4_MAX = 2_147_483_647;

/** The earliest instant accepted: 0001-01-01T00:00:00.000Z. */
export const EARLIEST_INSTANT_MS = Date.parse('0001-01-01T00:00:00.000Z');
/** The latest instant accepted: 9999-12-31T23:59:59.999Z. */
export const LATEST_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** Whether a date is a real instant within years 0001–9999 (UTC). */
export function isInstantInRange(date: Date): boolean {
  const ms = date.getTime();
  return ms >= EARLIEST_INSTANT_MS && ms <= LATEST_INSTANT_MS;
}

/** Why an instant was refused, for error details. */
export const INSTANT_RANGE_MESSAGE = 'expected an instant between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z';

/**
 * An ISO 8601 date-time with `Z` or an offset whose instant lies within years 0001–9999 (UTC).
 * `message` is the format error (the range error is {@link INSTANT_RANGE_MESSAGE}).
 */
export const isoInstant = (message?: string) =>
  z.iso.datetime({ offset: true, ...(message ? { message } : {}) }).refine((s) => isInstantInRange(new Date(s)), { message: INSTANT_RANGE_MESSAGE });
