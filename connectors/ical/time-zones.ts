import { getVtimezoneComponent } from '@touch4it/ical-timezones';
import { daysInMonth } from '../../src/cases/calendar-date.ts';
import { type WallTime, wallTimeIn } from '../../src/cases/wall-time.ts';

/**
 * Time zones for ICS output, as pure logic.
 *
 * A timed event is written with `TZID=<zone>` and the zone's VTIMEZONE (from @touch4it/ical-timezones)
 * only when a client that honours that VTIMEZONE (Outlook does) computes exactly the event's instant.
 * The package's rules are a frozen snapshot ("current rules since 1970"): some zones changed since
 * (America/Mexico_City dropped DST in 2022, America/Asuncion in 2024), and historic dates follow
 * older rules. So every event is checked: the wall time in the zone comes from the runtime's tz
 * database (Intl), the VTIMEZONE's rules map it back to an instant, and only if that equals the
 * event's instant is the zone used; otherwise the event is written in UTC (`…Z`), which every client
 * reads the same way. Either way the instant in every calendar app is the case app's instant.
 */

/** A local date and time, fields as on a wall clock (month 1–12). */
export type { WallTime };

/** How one timed instant is written: in a verified zone (wall time + TZID) or in UTC. */
export type ZonedInstant = { kind: 'zoned'; tzid: string; wall: WallTime } | { kind: 'utc' };

/** One STANDARD/DAYLIGHT observance of a VTIMEZONE in the package's shape. */
interface Observance {
  offsetFrom: number; // minutes east of UTC
  offsetTo: number;
  /** Local time of the transition (DTSTART's time of day). */
  hour: number;
  minute: number;
  second: number;
  /** Year the observance starts (DTSTART's year); rules do not apply before it. */
  startYear: number;
  /** Yearly rule: month and the nth (1..5, or -1..-5 from the end) weekday (0 = Sunday); null = no rule. */
  rule: { month: number; nth: number; weekday: number } | null;
}

/** A VTIMEZONE reduced to what an RFC 5545 client evaluates: a fixed offset, or standard + daylight yearly rules. */
export interface ZoneRules {
  tzid: string;
  standard: Observance;
  daylight: Observance | null;
}

const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'Etc/UCT', 'UCT', 'GMT', 'Etc/GMT', 'Etc/Universal', 'Universal', 'Zulu', 'Etc/Zulu', 'Z']);
const WEEKDAYS: Record<string, number> = { SU: 0, MO: 1, TU: 2, WE: 3, TH: 4, FR: 5, SA: 6 };
const MINUTE = 60_000;
const IANA_NAME = /^[A-Za-z][A-Za-z0-9/_+-]{0,63}$/;

function parseOffset(value: string): number | null {
  const m = /^([+-])(\d{2})(\d{2})(\d{2})?$/.exec(value.trim());
  if (!m) return null;
  const minutes = Number(m[2]) * 60 + Number(m[3]) + (m[4] ? Number(m[4]) / 60 : 0);
  return m[1] === '-' ? -minutes : minutes;
}

/**
 * Parses the subset of VTIMEZONE the package ships (at most one STANDARD and one DAYLIGHT, yearly
 * `BYMONTH=m;BYDAY=±nDD` rules, no RDATE). Anything else returns null, which makes callers use UTC.
 */
export function parseVtimezone(component: string): ZoneRules | null {
  const lines = component.replace(/\r\n[ \t]/g, '').split(/\r?\n/);
  let tzid: string | null = null;
  let current: (Partial<Observance> & { kind?: 'STANDARD' | 'DAYLIGHT'; ruleText?: string; hasRdate?: boolean }) | null = null;
  const found: Record<'STANDARD' | 'DAYLIGHT', Observance[]> = { STANDARD: [], DAYLIGHT: [] };
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).split(';')[0]!.toUpperCase();
    const value = line.slice(colon + 1);
    if (name === 'TZID' && !current) tzid = value.trim();
    else if (name === 'BEGIN' && (value === 'STANDARD' || value === 'DAYLIGHT')) current = { kind: value };
    else if (name === 'END' && current && value === current.kind) {
      const o = finishObservance(current);
      if (!o || current.hasRdate) return null;
      found[current.kind].push(o);
      current = null;
    } else if (current) {
      if (name === 'TZOFFSETFROM') current.offsetFrom = parseOffset(value) ?? Number.NaN;
      else if (name === 'TZOFFSETTO') current.offsetTo = parseOffset(value) ?? Number.NaN;
      else if (name === 'DTSTART') {
        const m = /^(\d{4})\d{4}T(\d{2})(\d{2})(\d{2})$/.exec(value.trim());
        if (!m) return null;
        current.startYear = Number(m[1]);
        current.hour = Number(m[2]);
        current.minute = Number(m[3]);
        current.second = Number(m[4]);
      } else if (name === 'RRULE') current.ruleText = value.trim();
      else if (name === 'RDATE') current.hasRdate = true;
    }
  }
  if (!tzid || found.STANDARD.length !== 1 || found.DAYLIGHT.length > 1) return null;
  const standard = found.STANDARD[0]!;
  const daylight = found.DAYLIGHT[0] ?? null;
  if (!daylight) return standard.rule === null ? { tzid, standard, daylight: null } : null;
  // Two alternating observances must both recur yearly and hand over to each other's offset.
  if (!standard.rule || !daylight.rule) return null;
  if (standard.offsetFrom !== daylight.offsetTo || daylight.offsetFrom !== standard.offsetTo) return null;
  return { tzid, standard, daylight };
}

function finishObservance(o: Partial<Observance> & { ruleText?: string }): Observance | null {
  if (![o.offsetFrom, o.offsetTo, o.hour, o.minute, o.second, o.startYear].every((n) => Number.isFinite(n))) return null;
  let rule: Observance['rule'] = null;
  if (o.ruleText) {
    const parts = Object.fromEntries(o.ruleText.split(';').map((p) => p.split('=') as [string, string]));
    const byDay = /^(-?[1-5])(SU|MO|TU|WE|TH|FR|SA)$/.exec(parts.BYDAY ?? '');
    const month = Number(parts.BYMONTH);
    const allowed = new Set(['FREQ', 'BYMONTH', 'BYDAY']);
    if (parts.FREQ !== 'YEARLY' || !byDay || !(month >= 1 && month <= 12) || Object.keys(parts).some((k) => !allowed.has(k))) {
      return null;
    }
    rule = { month, nth: Number(byDay[1]), weekday: WEEKDAYS[byDay[2]!]! };
  }
  return {
    offsetFrom: o.offsetFrom!,
    offsetTo: o.offsetTo!,
    hour: o.hour!,
    minute: o.minute!,
    second: o.second!,
    startYear: o.startYear!,
    rule,
  };
}

/** Day of the week (0 = Sunday) of a calendar date, by Zeller-style arithmetic (no Date involved). */
export function weekdayOf(year: number, month: number, day: number): number {
  // Sakamoto's method.
  const t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
  const y = month < 3 ? year - 1 : year;
  return (y + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400) + t[month - 1]! + day) % 7;
}

/** Day of month of the nth (or, negative, nth-from-last) given weekday; null when it does not exist. */
function nthWeekday(year: number, month: number, nth: number, weekday: number): number | null {
  const last = daysInMonth(year, month);
  if (nth > 0) {
    const day = 1 + ((weekday - weekdayOf(year, month, 1) + 7) % 7) + (nth - 1) * 7;
    return day <= last ? day : null;
  }
  const day = last - ((weekdayOf(year, month, last) - weekday + 7) % 7) + (nth + 1) * 7;
  return day >= 1 ? day : null;
}

/** Milliseconds of a wall time counted as if it were UTC (pure calendar arithmetic). */
function wallMs(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** UTC instant of an observance's transition in a given year, or null. */
function transitionUtc(o: Observance, year: number): number | null {
  if (!o.rule) return null;
  const day = nthWeekday(year, o.rule.month, o.rule.nth, o.rule.weekday);
  if (day === null) return null;
  // DTSTART's local time is expressed in the offset in force before the transition (TZOFFSETFROM).
  return wallMs({ year, month: o.rule.month, day, hour: o.hour, minute: o.minute, second: o.second }) - o.offsetFrom * MINUTE;
}

/**
 * The instant an RFC 5545 client computes for `wall` under these rules: a local time that occurs
 * twice (end of daylight time) means its first occurrence; one that does not occur (start of
 * daylight time) or any doubt (before the rules start, unknown transition) gives null.
 */
export function vtimezoneLocalToUtc(rules: ZoneRules, wall: WallTime): number | null {
  const local = wallMs(wall);
  const { standard, daylight } = rules;
  if (wall.year < Math.max(standard.startYear, daylight?.startYear ?? 0) + 1) return null;
  if (!daylight) return local - standard.offsetTo * MINUTE;
  const dstStart = transitionUtc(daylight, wall.year);
  const dstEnd = transitionUtc(standard, wall.year);
  if (dstStart === null || dstEnd === null) return null;
  const inDaylight = (t: number) => (dstStart < dstEnd ? t >= dstStart && t < dstEnd : t >= dstStart || t < dstEnd);
  const asDaylight = local - daylight.offsetTo * MINUTE;
  const asStandard = local - standard.offsetTo * MINUTE;
  const candidates = [inDaylight(asDaylight) ? asDaylight : null, inDaylight(asStandard) ? null : asStandard].filter((t): t is number => t !== null);
  return candidates.length ? Math.min(...candidates) : null;
}

const rulesCache = new Map<string, ZoneRules | null>();
const components = new Map<string, string | null>();

/**
 * The VTIMEZONE component for a zone name, read once per process (the package reads a file per call).
 * The package sometimes files a zone under another name (Asia/Katmandu under the Windows name "Nepal
 * Time"); the component's TZID is set to the name asked for, so the TZID parameter of the events and
 * the VTIMEZONE agree and stay IANA names every client knows.
 */
export function vtimezoneComponent(zone: string): string | null {
  let c = components.get(zone);
  if (c === undefined) {
    const raw = getVtimezoneComponent(zone);
    c = raw ? raw.replace(/^TZID:.*$/m, `TZID:${zone}`) : null;
    if (components.size < 2000) components.set(zone, c);
  }
  return c;
}

/** The parsed rules of the VTIMEZONE the feed would ship for a zone name, or null. */
export function zoneRulesFor(zone: string): ZoneRules | null {
  let rules = rulesCache.get(zone);
  if (rules === undefined) {
    const component = vtimezoneComponent(zone);
    rules = component ? parseVtimezone(component) : null;
    if (rulesCache.size < 2000) rulesCache.set(zone, rules);
  }
  return rules;
}

/** Timed instants before this year are written in UTC (see {@link zoneInstant}). */
export const ZONED_FROM_YEAR = 2000;

/**
 * How to write a timed instant that the case app placed in `zone`: zoned when the VTIMEZONE we would
 * ship reproduces the instant exactly (to the second), else UTC.
 */
export function zoneInstant(instantMs: number, zone: string | null): ZonedInstant {
  // Only plain IANA names become a TZID parameter (no quoting needed, known to every client).
  if (!zone || UTC_NAMES.has(zone) || !IANA_NAME.test(zone)) return { kind: 'utc' };
  const rules = zoneRulesFor(zone);
  if (!rules) return { kind: 'utc' };
  const seconds = Math.floor(instantMs / 1000) * 1000;
  const wall = wallTimeIn(seconds, zone);
  // Before 2000 the zone histories calendar apps ship disagree with each other (found by the property
  // test: America/Tijuana, April 1971, is an hour apart between ICU and node-ical's data) and with the
  // current-rules VTIMEZONE we send; a UTC time means the same instant to every reader.
  if (!wall || wall.year < ZONED_FROM_YEAR || wall.year > 9999) return { kind: 'utc' };
  if (vtimezoneLocalToUtc(rules, wall) !== seconds) return { kind: 'utc' };
  return { kind: 'zoned', tzid: zone, wall };
}
