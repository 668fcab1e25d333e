import { createHash } from 'node:crypto';
import type { CategoryId } from '../../src/consent/categories.ts';
import { addDays } from '../../src/cases/calendar-date.ts';
import { isKnownTimeZone, wallTimeIn } from '../../src/cases/wall-time.ts';
import type { EventWithCase } from '../../src/cases/queries.ts';
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

/** Lower-case base32hex (RFC 4648 §7, no padding): exactly Google's event id alphabet. */
export function base32hex(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32HEX[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32HEX[(value << (5 - bits)) & 31];
  return out;
}

/**
 * Deterministic Google event id of (connection, case event): `cb` + base32hex(SHA-256) = 54
 * characters of a–v/0–9. A retried insert hits 409 instead of creating a duplicate; two connections
 * writing the same case event into one calendar get different ids.
 */
export function googleEventId(connectionId: string, caseEventId: string): string {
  return `cb${base32hex(createHash('sha256').update(`casebridge:google_calendar:${connectionId}:${caseEventId}`).digest())}`;
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

/** Canonical JSON (sorted keys) so equal content always hashes equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
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
      hash: createHash('sha256')
        .update(canonical({ v: PROJECTION_VERSION, fields, reminderMinutes }))
        .digest('hex'),
      fields,
      caseId: event.caseId,
      subjects: { caseIds: [event.caseId], eventIds: [event.id] },
      remoteId: googleEventId(params.connectionId, event.id),
      meta,
    });
  }
  return out;
}
