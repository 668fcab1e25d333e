import crypto, { createHash } from 'node:crypto';
import { addDays } from '../../src/cases/calendar-date.ts';
import type { EventWithCase } from '../../src/cases/queries.ts';
import { isKnownTimeZone, wallTimeIn } from '../../src/cases/wall-time.ts';
import type { CategoryId } from '../../src/consent/categories.ts';
import type { DesiredItem } from '../types.ts';
import type { GoogleCalendarSettings } from './manifest.ts';

/**
 * Pure projection: case events ∩ consent → desired Google Calendar items, keyed by the consent
 * registry's field names (the gate minimises them again; `apply.ts` maps them to Google's body).
 * No I/O, no clock: the same input always gives the same items and hashes.
 */

/** Bump when the mapping to Google's event body changes, so every item is rewritten once. */
export const PROJECTION_VERSION = 1;

/** Field-keyed payload of one event (registry names; absent = not consented or empty). */
export type CalendarEventFields = {
  title: string;
  /** All-day: `YYYY-MM-DD`; timed: RFC 3339 local time with offset in `timeZone`. */
  start: string;
  /** All-day: the exclusive end date (last day + 1); timed: RFC 3339. */
  end: string;
  allDay: boolean;
  timeZone?: string;
  location?: string;
  caseNumber?: string;
  description?: string;
  participantNames?: string[];
};

const BASE32HEX = '0123456789abcdefghijklmnopqrstuv';

const BASE32HEX_CODES = Uint8Array.from(BASE32HEX, (c) => c.charCodeAt(0));

/** Lower-case base32hex (RFC 4648 §7, no padding): exactly Google's event id alphabet. */
export function base32hex(bytes: Uint8Array): string {
  // Character codes into one buffer, decoded once: no string per character (run once per item per run).
  const out = Buffer.allocUnsafe(Math.ceil((bytes.length * 8) / 5));
  let o = 0;
  let bits = 0;
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value << 8) | bytes[i]!;
    bits += 8;
    while (bits >= 5) {
      out[o++] = BASE32HEX_CODES[(value >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out[o++] = BASE32HEX_CODES[(value << (5 - bits)) & 31]!;
  return out.toString('latin1', 0, o);
}

/** SHA-256 of a string: the one-shot `crypto.hash` where the runtime has it (Node ≥ 20.12), same digest. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex' | 'buffer') => string | Buffer }).hash;
const sha256 = (data: string): Buffer => (oneShotHash ? (oneShotHash('sha256', data, 'buffer') as Buffer) : createHash('sha256').update(data).digest());
const sha256Hex = (data: string): string => (oneShotHash ? (oneShotHash('sha256', data, 'hex') as string) : createHash('sha256').update(data).digest('hex'));

/**
 * Deterministic Google event id of (connection, case event): `cb` + base32hex(SHA-256) = 54
 * characters of a–v/0–9. A retried insert hits 409 instead of creating a duplicate; two connections
 * writing the same case event into one calendar get different ids.
 */
export function googleEventId(connectionId: string, caseEventId: string): string {
  return `cb${base32hex(sha256(`casebridge:google_calendar:${connectionId}:${caseEventId}`))}`;
}

/** `2026-03-02T09:00:00-05:00`: the instant as wall-clock time in `timeZone`, with its UTC offset. */
export function zonedDateTime(instant: Date, timeZone: string): string {
  const w = wallTimeIn(instant.getTime(), timeZone);
  if (!w) throw new Error(`unknown time zone: ${timeZone}`);
  const offsetMin = Math.round((Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  const offset = offsetMin === 0 ? 'Z' : `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
  return `${String(w.year).padStart(4, '0')}-${pad2(w.month)}-${pad2(w.day)}T${pad2(w.hour)}:${pad2(w.minute)}:${pad2(w.second)}${offset}`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/**
 * Canonical JSON (sorted keys, undefined members left out) so equal content always hashes equally.
 * Built in one string without intermediate arrays: it runs for every item of every run.
 */
function canonical(value: unknown): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonical(value[i]);
    return `${out}]`;
  }
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    let out = '{';
    let first = true;
    for (const k of keys) {
      const v = obj[k];
      if (v === undefined) continue;
      out += `${first ? '' : ','}${JSON.stringify(k)}:${canonical(v)}`;
      first = false;
    }
    return `${out}}`;
  }
  // As `[…].join` did for an undefined element (a value JSON cannot carry).
  return JSON.stringify(value) ?? '';
}

/** The fields of one event under the consented categories (nothing of a category not consented). */
export function eventFields(event: EventWithCase, categories: readonly CategoryId[]): CalendarEventFields | null {
  if (!categories.includes('calendar.events')) return null;
  let start: string;
  let end: string;
  let timeZone: string | undefined;
  const allDay = event.startDate !== null;
  if (allDay) {
    start = event.startDate!;
    // The case app's end date is inclusive; Google's all-day end is exclusive.
    const last = event.endDate && event.endDate >= start ? event.endDate : start;
    end = addDays(last, 1);
  } else {
    if (!event.startsAt) return null;
    timeZone = event.timeZone && isKnownTimeZone(event.timeZone) ? event.timeZone : 'UTC';
    start = zonedDateTime(event.startsAt, timeZone);
    const endsAt = event.endsAt && event.endsAt.getTime() >= event.startsAt.getTime() ? event.endsAt : event.startsAt;
    end = zonedDateTime(endsAt, timeZone);
  }
  const fields: CalendarEventFields = { title: event.title, start, end, allDay };
  if (timeZone) fields.timeZone = timeZone;
  if (event.location) fields.location = event.location;
  if (event.caseNumber) fields.caseNumber = event.caseNumber;
  if (categories.includes('calendar.events.details')) {
    if (event.description) fields.description = event.description;
    const names = event.participants.map((p) => p.name).filter((n) => typeof n === 'string' && n.length > 0);
    if (names.length) fields.participantNames = names;
  }
  return fields;
}

/** Desired items of one connection. */
export function projectEvents(params: {
  events: readonly EventWithCase[];
  categories: readonly CategoryId[];
  connectionId: string;
  settings: GoogleCalendarSettings;
}): Array<DesiredItem<CalendarEventFields>> {
  const out: Array<DesiredItem<CalendarEventFields>> = [];
  for (const event of params.events) {
    const fields = eventFields(event, params.categories);
    if (!fields) continue;
    const reminderMinutes = params.settings.deadlineReminders && event.kind === 'deadline' ? (params.settings.reminderMinutes ?? 24 * 60) : null;
    const meta = { kind: event.kind, reminderMinutes };
    out.push({
      key: `event:${event.id}`,
      hash: sha256Hex(canonical({ v: PROJECTION_VERSION, fields, reminderMinutes })),
      fields,
      caseId: event.caseId,
      subjects: { caseIds: [event.caseId], eventIds: [event.id] },
      remoteId: googleEventId(params.connectionId, event.id),
      meta,
    });
  }
  return out;
}
