/**
 * Calendar-date arithmetic on `YYYY-MM-DD` strings (all-day events, the demo's dates). Pure integer
 * arithmetic on the proleptic Gregorian calendar: no Date, no UTC, no local time, so no time zone or
 * daylight-saving change can move a date, and years 0000–0099 stay what they are (`Date.UTC` maps
 * them to 1900–1999).
 */

/** A calendar date's numbers: month 1–12, day 1–31. */
export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Days in a month of the proleptic Gregorian calendar (month 1–12). */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The numbers of a `YYYY-MM-DD` date (0000-01-01 … 9999-12-31); null when it is not one (`2025-02-30`, `2025-1-01`). */
export function parseDate(value: string): CalendarDate | null {
  const m = DATE.exec(value);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  return { year, month, day };
}

/** Days since 1970-01-01 (negative before it). Howard Hinnant's `days_from_civil`, 400-year eras. */
function epochDay({ year, month, day }: CalendarDate): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The inverse of {@link epochDay} (`civil_from_days`). */
function fromEpochDay(n: number): CalendarDate {
  const z = n + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * `date` plus `days` (an integer, may be negative), e.g. the day after an all-day event's last day.
 * Throws a RangeError when `date` is not a `YYYY-MM-DD` calendar date, `days` is not an integer, or
 * the result falls outside 0000-01-01 … 9999-12-31 (it would not be a `YYYY-MM-DD` date).
 */
export function addDays(date: string, days: number): string {
  const d = parseDate(date);
  if (!d) throw new RangeError(`not a YYYY-MM-DD calendar date: ${JSON.stringify(date)}`);
  if (!Number.isSafeInteger(days)) throw new RangeError(`not a whole number of days: ${days}`);
  const r = fromEpochDay(epochDay(d) + days);
  if (r.year < 0 || r.year > 9999) throw new RangeError(`${date} + ${days} days is outside 0000-01-01 … 9999-12-31`);
  return `${pad(r.year, 4)}-${pad(r.month, 2)}-${pad(r.day, 2)}`;
}
