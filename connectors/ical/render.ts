import { createHash } from 'node:crypto';
import ical, {
  escape as escapeText,
  type ICalEventData,
  type ICalTemporalInstantStub,
  type ICalTemporalPlainDateStub,
  type ICalTemporalPlainDateTimeStub,
  type ICalTemporalZonedDateTimeStub,
} from 'ical-generator';
import { addDays, type CalendarDate, parseDate } from '../../src/cases/calendar-date.ts';
import { type WallTime, vtimezoneComponent, zoneInstant } from './time-zones.ts';
import type { FeedEnvelope } from './project.ts';

/**
 * ICS rendering, pure (no I/O): the gate-minimised columns of a feed → RFC 5545 text, produced by
 * ical-generator, which escapes TEXT values (`\`, `;`, `,`, newlines — so a CRLF in a title becomes
 * the two characters `\n` inside SUMMARY). Lines are folded at 75 octets without splitting a UTF-8
 * character by {@link foldLines}: the library's folding rule, byte-identical (property-tested
 * against the library's own `foldLines`), without its per-character cost. We add what the library
 * leaves to the caller:
 * - control characters other than tab/newline are dropped and lone surrogates replaced (TEXT may
 *   not contain them, and some parsers stop at them);
 * - the calendar name is escaped with the library's `escape` (ical-generator writes NAME and
 *   X-WR-CALNAME verbatim);
 * - all-day dates are written from the `YYYY-MM-DD` string itself, DTEND = last day + 1 computed on
 *   the calendar (no Date, no UTC, no local time anywhere);
 * - timed events carry TZID + VTIMEZONE only when that VTIMEZONE reproduces the instant (see
 *   src/ical/time-zones.ts), else UTC;
 * - SUMMARY is `[<case number>] <title>` (visible in every client) and CATEGORIES is the case number
 *   (filterable where supported); DESCRIPTION carries the description and the participant names,
 *   and exists only when `calendar.events.details` was consented (those columns are absent otherwise).
 */

/** One event as the renderer sees it. `description`/`participantNames` are undefined when not consented. */
export interface RenderEvent {
  eventId: string;
  sequence: number;
  /** ISO-8601 instant of the last revision (DTSTAMP). */
  stamp: string;
  title: string;
  caseNumber: string;
  location: string | null;
  allDay: boolean;
  start: string;
  end: string | null;
  timeZone: string | null;
  description?: string | null;
  participantNames?: string[];
}

export interface RenderOptions {
  /** Calendar name (X-WR-CALNAME / NAME). */
  name: string;
  /** REFRESH-INTERVAL and X-PUBLISHED-TTL, in seconds. */
  refreshSeconds: number;
}

/** A rendered feed: the bytes sent and their strong ETag. */
export interface RenderedFeed {
  body: Buffer;
  etag: string;
  eventCount: number;
}

/** The input did not have the shape the projection produces (a programming error, never user input). */
export class FeedRenderError extends Error {
  readonly code = 'feed_render_input_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'FeedRenderError';
  }
}

/** Calendar name used when the feed's name has no printable character. */
export const DEFAULT_CALENDAR_NAME = 'Casebridge';

/** UID of a case event in every feed: stable across versions, feeds and token rotations. */
export function eventUid(eventId: string): string {
  return `${eventId}@casebridge`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text safe for an ICS TEXT value before escaping: no control characters (tab/newlines kept), well-formed UTF-16. */
export function cleanText(value: string): string {
  return value.replace(CONTROL, '').replace(LONE_SURROGATE, '\uFFFD');
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The numbers of a `YYYY-MM-DD` date; a {@link FeedRenderError} when it is not a calendar date. */
function dateParts(value: string): CalendarDate {
  const d = parseDate(value);
  if (!d) throw new FeedRenderError(`not a YYYY-MM-DD calendar date: ${JSON.stringify(value)}`);
  return d;
}

/** The day after a `YYYY-MM-DD` date (an all-day event's exclusive DTEND), on the calendar itself. */
export function nextDay(value: string): string {
  dateParts(value);
  return addDays(value, 1);
}

/**
 * `Temporal.PlainDate`-shaped: ical-generator prints its fields as they are (DATE). Classes rather
 * than object literals with closures: a large feed creates thousands of these.
 */
class PlainDateValue implements ICalTemporalPlainDateStub {
  constructor(
    readonly year: number,
    readonly month: number,
    readonly day: number,
  ) {}
  toPlainDateTime(): never {
    throw new FeedRenderError('a DATE value has no time');
  }
  toJSON(): string {
    return `${pad(this.year, 4)}-${pad(this.month)}-${pad(this.day)}`;
  }
  toString(): string {
    return this.toJSON();
  }
}

function plainDate(value: string): PlainDateValue {
  const { year, month, day } = dateParts(value);
  return new PlainDateValue(year, month, day);
}

function wallString(w: WallTime): string {
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
}

/** `Temporal.PlainDateTime`-shaped: printed field by field, no zone arithmetic by the library. */
class PlainDateTimeValue implements ICalTemporalPlainDateTimeStub {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  constructor(w: WallTime) {
    this.year = w.year;
    this.month = w.month;
    this.day = w.day;
    this.hour = w.hour;
    this.minute = w.minute;
    this.second = w.second;
  }
  toPlainDate(): PlainDateValue {
    return new PlainDateValue(this.year, this.month, this.day);
  }
  toZonedDateTime(): never {
    throw new FeedRenderError('zone conversion is done before rendering');
  }
  toJSON(): string {
    return wallString(this);
  }
  toString(): string {
    return wallString(this);
  }
}

/** `Temporal.Instant`-shaped (ical-generator compares start and end through it). */
class InstantValue implements ICalTemporalInstantStub {
  constructor(
    readonly epochMilliseconds: number,
    private readonly zoned: ICalTemporalZonedDateTimeStub,
  ) {}
  toZonedDateTimeISO(): ICalTemporalZonedDateTimeStub {
    return this.zoned;
  }
  toJSON(): string {
    return new Date(this.epochMilliseconds).toISOString();
  }
  toString(): string {
    return this.toJSON();
  }
}

/**
 * `Temporal.ZonedDateTime`-shaped, for ical-generator: with the event's TZID set, the library writes
 * `DTSTART;TZID=<zone>:<wall time>` from {@link PlainDateTimeValue}; the wall time was computed (and
 * verified against the shipped VTIMEZONE) by src/ical/time-zones.ts.
 */
class ZonedDateTimeValue extends PlainDateTimeValue implements ICalTemporalZonedDateTimeStub {
  constructor(
    wall: WallTime,
    readonly timeZoneId: string,
    private readonly instant: number,
  ) {
    super(wall);
  }
  toInstant(): ICalTemporalInstantStub {
    return new InstantValue(this.instant, this);
  }
  toPlainDateTime(): PlainDateTimeValue {
    return new PlainDateTimeValue(this);
  }
  withTimeZone(zone: string): ZonedDateTimeValue {
    if (zone === this.timeZoneId) return this;
    if (zone !== 'UTC') throw new FeedRenderError(`unexpected zone conversion to ${zone}`);
    const d = new Date(this.instant);
    const utc = {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    };
    return new ZonedDateTimeValue(utc, 'UTC', this.instant);
  }
  override toJSON(): string {
    return new Date(this.instant).toISOString();
  }
  override toString(): string {
    return `${wallString(this)}[${this.timeZoneId}]`;
  }
}

function instantMs(value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new FeedRenderError(`not an instant: ${JSON.stringify(value)}`);
  return ms;
}

type Column<T> = T[] | undefined;

function column<T>(fields: Record<string, unknown>, name: string, n: number, check: (v: unknown) => v is T, required: boolean): Column<T> {
  const value = fields[name];
  if (value === undefined) {
    if (required) throw new FeedRenderError(`column ${name} is missing`);
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== n) throw new FeedRenderError(`column ${name} must be an array of ${n}`);
  for (const v of value) if (!check(v)) throw new FeedRenderError(`column ${name} has a value of the wrong type`);
  return value as T[];
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/**
 * Turns the gate's minimised columns back into rows. Only columns present in `minimised` reach the
 * output: an absent `description` column means no DESCRIPTION at all.
 */
export function eventsFromColumns(minimised: Record<string, unknown>, envelope: FeedEnvelope): RenderEvent[] {
  const n = envelope.eventIds.length;
  if (envelope.sequences.length !== n || envelope.stamps.length !== n) throw new FeedRenderError('envelope columns differ in length');
  const title = column(minimised, 'title', n, isString, true)!;
  const start = column(minimised, 'start', n, isString, true)!;
  const end = column(minimised, 'end', n, isStringOrNull, true)!;
  const allDay = column(minimised, 'allDay', n, isBoolean, true)!;
  const timeZone = column(minimised, 'timeZone', n, isStringOrNull, true)!;
  const location = column(minimised, 'location', n, isStringOrNull, true)!;
  const caseNumber = column(minimised, 'caseNumber', n, isString, true)!;
  const description = column(minimised, 'description', n, isStringOrNull, false);
  const participantNames = column(minimised, 'participantNames', n, isStringArray, false);
  const events: RenderEvent[] = new Array(n);
  for (let i = 0; i < n; i++) {
    events[i] = {
      eventId: envelope.eventIds[i]!,
      sequence: envelope.sequences[i]!,
      stamp: envelope.stamps[i]!,
      title: title[i]!,
      caseNumber: caseNumber[i]!,
      location: location[i]!,
      allDay: allDay[i]!,
      start: start[i]!,
      end: end[i]!,
      timeZone: timeZone[i]!,
      ...(description ? { description: description[i]! } : {}),
      ...(participantNames ? { participantNames: participantNames[i]! } : {}),
    };
  }
  return events;
}

/** DESCRIPTION text: the description, then the participants' names; null when there is nothing to say. */
export function descriptionText(e: RenderEvent): string | null {
  const parts: string[] = [];
  if (e.description) parts.push(e.description);
  if (e.participantNames?.length) parts.push(`Participants: ${e.participantNames.join(', ')}`);
  const text = cleanText(parts.join('\n\n'));
  return text === '' ? null : text;
}

/** DTSTART/DTEND (and TZID) of an event in ical-generator's terms. */
function when(e: RenderEvent): Pick<ICalEventData, 'allDay' | 'start' | 'end' | 'timezone'> {
  if (e.allDay) {
    // DTEND is exclusive: the day after the last day (a missing or earlier end means one day).
    const last = e.end && e.end > e.start ? e.end : e.start;
    return { allDay: true, start: plainDate(e.start), end: plainDate(nextDay(last)) };
  }
  const startMs = instantMs(e.start);
  const endMs = e.end === null ? null : instantMs(e.end);
  const zs = zoneInstant(startMs, e.timeZone);
  const ze = endMs === null ? null : zoneInstant(endMs, e.timeZone);
  if (zs.kind === 'zoned' && (ze === null || (ze.kind === 'zoned' && ze.tzid === zs.tzid))) {
    return {
      timezone: zs.tzid,
      start: new ZonedDateTimeValue(zs.wall, zs.tzid, startMs),
      end: ze?.kind === 'zoned' && endMs !== null ? new ZonedDateTimeValue(ze.wall, ze.tzid, endMs) : null,
    };
  }
  // Unverifiable zone (or none): UTC, which every client reads as the same instant.
  return { start: new Date(startMs), end: endMs === null ? null : new Date(endMs) };
}

/**
 * Folds content lines exactly as ical-generator's `foldLines` does (a line longer than 74 octets is
 * cut before the character that would exceed it, continuation lines start with one space, a
 * surrogate pair is never split) — byte for byte the same output, which test/ical/render.test.ts
 * checks against the library's function on arbitrary text. The library's version allocates a
 * TextEncoder per character (minutes of CPU for a large feed); this one measures each line once and
 * walks only the lines that need folding.
 */
export function foldLines(text: string): string {
  const lines = text.split('\r\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // At most 3 octets per UTF-16 unit, so 24 units always fit; otherwise measure once.
    if (line.length <= 24 || Buffer.byteLength(line, 'utf8') <= 74) continue;
    let out = '';
    let start = 0;
    let used = 0;
    for (let j = 0; j < line.length; j++) {
      const unit = line.charCodeAt(j);
      const from = j;
      let size: number;
      if (unit < 0x80) size = 1;
      else if (unit < 0x800) size = 2;
      else if (unit >= 0xd800 && unit <= 0xdbff) {
        // The library takes the next unit along, whatever it is, and measures the pair's UTF-8.
        if (j + 1 < line.length) {
          const next = line.charCodeAt(++j);
          size = next >= 0xdc00 && next <= 0xdfff ? 4 : 3 + (next < 0x80 ? 1 : next < 0x800 ? 2 : 3);
        } else size = 3;
      } else size = 3;
      used += size;
      if (used > 74) {
        out += `${line.slice(start, from)}\r\n `;
        start = from;
        used = size;
      }
    }
    lines[i] = out + line.slice(start);
  }
  return lines.join('\r\n');
}

/**
 * Renders the events as one VCALENDAR (CRLF line endings, folded). Every property is written by
 * ical-generator — the calendar head by `ICalCalendar`, each VEVENT by `ICalEvent#toString` (which
 * escapes TEXT) — and the whole is folded by {@link foldLines}. Calendar properties come first, then
 * the VTIMEZONEs, then the events (RFC 5545 §3.6: properties before components).
 */
export function renderCalendar(options: RenderOptions, events: readonly RenderEvent[]): string {
  const cal = ical({
    name: escapeText(cleanText(options.name) || DEFAULT_CALENDAR_NAME, false),
    prodId: { company: 'Casebridge', product: 'Case calendar feed', language: 'EN' },
    ttl: options.refreshSeconds,
  });
  // The head as the library writes it (folded by the library: unfold it, the whole is folded once below).
  const head = cal
    .toString()
    .replace(/\r\n[ \t]/g, '')
    .replace(/END:VCALENDAR$/, '');
  const zones = new Set<string>();
  const parts: string[] = [];
  for (const e of events) {
    const caseNumber = cleanText(e.caseNumber);
    const title = cleanText(e.title);
    const summary = caseNumber ? `[${caseNumber}] ${title}` : title;
    const location = e.location ? cleanText(e.location) : '';
    const description = descriptionText(e);
    const timing = when(e);
    if (timing.timezone) zones.add(timing.timezone);
    const event = cal.createEvent({
      id: eventUid(e.eventId),
      sequence: e.sequence,
      stamp: new Date(instantMs(e.stamp)),
      summary,
      ...(location ? { location } : {}),
      ...(description ? { description } : {}),
      ...(caseNumber ? { categories: [{ name: caseNumber }] } : {}),
      ...timing,
    });
    parts.push(event.toString());
  }
  let vtimezones = '';
  for (const zone of zones) {
    const component = vtimezoneComponent(zone);
    if (!component) throw new FeedRenderError(`no VTIMEZONE for ${zone}`);
    vtimezones += `${component.replace(/\r\n/g, '\n').replace(/\n/g, '\r\n').trim()}\r\n`;
  }
  return foldLines(`${head}${vtimezones}${parts.join('')}END:VCALENDAR`);
}

/** Strong ETag of a body: `"sha256-<hex>"`. */
export function feedEtag(body: Uint8Array): string {
  return `"sha256-${createHash('sha256').update(body).digest('hex')}"`;
}

/** Renders the minimised columns of a feed into the response body and its ETag. */
export function renderFeed(params: { options: RenderOptions; minimised: Record<string, unknown>; envelope: FeedEnvelope }): RenderedFeed {
  const events = eventsFromColumns(params.minimised, params.envelope);
  const body = Buffer.from(renderCalendar(params.options, events), 'utf8');
  return { body, etag: feedEtag(body), eventCount: events.length };
}
