/**
 * Calendar arithmetic for the sample data: wall-clock times in an IANA zone to instants, and whole
 * days. Pure (Intl only), so the demo's dates are right across daylight-saving changes.
 */

import { addDays } from '../cases/calendar-date.ts';
import { zoneOffsetMs } from '../cases/wall-time.ts';

/** The zone's offset from UTC at an instant, in milliseconds (positive east of Greenwich). */
function offsetMs(instant: number, timeZone: string): number {
  const offset = zoneOffsetMs(instant, timeZone);
  if (offset === null) throw new Error(`unknown time zone: ${timeZone}`);
  return offset;
}

/**
 * The instant at which clocks in `timeZone` show `date` `time` (YYYY-MM-DD, HH:MM). Two passes settle
 * the offset on the right side of a daylight-saving change.
 */
export function zonedTimeToUtc(params: { date: string; time: string; timeZone: string }): Date {
  const [y, m, d] = params.date.split('-').map(Number) as [number, number, number];
  const [hh, mm] = params.time.split(':').map(Number) as [number, number];
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  const first = wall - offsetMs(wall, params.timeZone);
  return new Date(wall - offsetMs(first, params.timeZone));
}

/** The Monday (UTC) of the week containing `now`, as YYYY-MM-DD: the demo's dates hang off it. */
export function mondayOf(now: Date): string {
  const day = now.getUTCDay(); // 0 = Sunday
  const back = day === 0 ? 6 : day - 1;
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - back)).toISOString().slice(0, 10);
}

/** Saturday or Sunday (court dates and meetings move to the next weekday). */
export function isWeekend(date: string): boolean {
  const day = new Date(`${date}T12:00:00Z`).getUTCDay();
  return day === 0 || day === 6;
}

export function nextWeekday(date: string): string {
  let d = date;
  while (isWeekend(d)) d = addDays(d, 1);
  return d;
}
