import { z } from 'zod';
import { INT4_MAX, isoInstant } from '../db/ranges.ts';
import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '../security/storable-text.ts';

/**
 * Request schemas of the ingest API: what the case-management app sends, validated field by field
 * and normalised (trimmed strings, lower-cased e-mail addresses, canonical IANA zone names, sorted
 * assignee lists) so that sending the same facts twice compares equal and leaves the version alone.
 * Pure: no I/O, unit-tested in test/unit/ingest-schemas.test.ts.
 */

export const ENTITY_TYPES = ['case', 'event', 'document', 'contact'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export const EVENT_KINDS = ['court_date', 'deadline', 'deposition', 'meeting', 'reminder'] as const;

/**
 * The case-management app's own id of a record. It travels in URL paths, so it is limited to
 * characters that need no escaping there.
 */
export const externalIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._:@~+=-]+$/, 'letters, digits and . _ : @ ~ + = - only (at most 200)')
  .meta({ description: "The case-management app's own id", example: 'case-2024-0117' });

const zoneCache = new Map<string, string | null>();

/**
 * The canonical IANA name of a time zone (`america/new_york` → `America/New_York`), or null when
 * Intl does not know it. Offsets such as `+01:00` are not zones (they ignore daylight saving time).
 * Cached: constructing Intl.DateTimeFormat costs tens of microseconds and a bulk repeats zones.
 */
export function canonicalTimeZone(zone: string): string | null {
  const cached = zoneCache.get(zone);
  if (cached !== undefined) return cached;
  let canonical: string | null = null;
  if (/^[A-Za-z]/.test(zone) && zone.length <= 64) {
    try {
      canonical = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    } catch {
      canonical = null;
    }
  }
  if (zoneCache.size < 10_000) zoneCache.set(zone, canonical);
  return canonical;
}

/**
 * A string PostgreSQL can store as given: NUL (U+0000) and unpaired surrogates are refused with a 400
 * naming the field. (The HTTP layer refuses them in any JSON body already; this covers the JSON part of
 * a multipart upload and callers that are not HTTP.)
 */
const storableString = () => z.string().refine(isStorableText, UNSTORABLE_TEXT_MESSAGE);

const text = (max: number) => storableString().trim().min(1).max(max);
/** Optional text: absent, null and blank all mean "no value" (stored as NULL). */
const optionalText = (max: number) =>
  storableString()
    .trim()
    .max(max)
    .nullish()
    .transform((v) => (v ? v : null));
const email = z
  .email()
  .max(320)
  .transform((v) => v.toLowerCase());
const isoDate = z.iso
  .date({ message: 'expected a calendar date YYYY-MM-DD' })
  // An all-day event's exclusive end (the day after its last day) must itself be a YYYY-MM-DD date.
  .refine((d) => d >= '0001-01-01' && d <= '9999-12-30', { message: 'expected a date between 0001-01-01 and 9999-12-30' });
// Years 0001–9999 in UTC: year 0 or 10000 used to reach the database and fail the whole request (500).
const isoDateTime = isoInstant('expected an ISO 8601 date-time with Z or an offset, e.g. 2025-03-14T09:30:00-04:00');

/** Sorted, de-duplicated: the order of a set carries no meaning and must not cause a new version. */
const uniqueSorted = (values: string[]) => [...new Set(values)].sort();
/** De-duplicated, first occurrence kept: for lists whose order the app shows (e-mails, phones). */
const unique = (values: string[]) => [...new Set(values)];

export const caseInputSchema = z
  .object({
    number: text(100).meta({ description: 'Case number as the firm writes it', example: 'PI-2024-0117' }),
    title: text(500).meta({ example: 'Miller v. Eastside Logistics' }),
    clientName: optionalText(300),
    status: text(50).default('open').meta({ description: 'Free text, e.g. open, pending, settled, closed' }),
    practiceArea: optionalText(100).meta({
      description: 'The practice area, e.g. Litigation (a consent may cover the cases of some practice areas; compared case-insensitively)',
    }),
    assignees: z
      .array(email)
      .max(200)
      .default([])
      .transform(uniqueSorted)
      .meta({ description: 'E-mail addresses of the assigned users (matched case-insensitively)' }),
  })
  .meta({ id: 'CaseInput' });
export type CaseData = z.output<typeof caseInputSchema>;

export const participantSchema = z.object({
  name: text(200),
  email: email.optional(),
  role: text(100).optional(),
});

const eventFields = z.object({
  caseExternalId: externalIdSchema,
  kind: z.enum(EVENT_KINDS),
  title: text(500),
  description: optionalText(20_000),
  location: optionalText(500),
  allDay: z.boolean().default(false),
  start: isoDateTime.optional().meta({ description: 'Timed events: start instant' }),
  end: isoDateTime.optional().meta({ description: 'Timed events: end instant (not before start)' }),
  timeZone: z.string().optional().meta({ description: 'IANA time zone the event belongs to, e.g. America/Chicago (required for timed events)' }),
  startDate: isoDate.optional().meta({ description: 'All-day events: first day' }),
  endDate: isoDate.optional().meta({ description: 'All-day events: last day, inclusive (default: startDate)' }),
  participants: z.array(participantSchema).max(500).default([]),
});

/** When the event happens: an interval in a zone, or whole days (end inclusive). */
export type EventTiming =
  | { allDay: false; start: Date; end: Date; timeZone: string }
  | { allDay: true; startDate: string; endDate: string; timeZone: string | null };

export const eventInputSchema = eventFields
  .superRefine((v, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    let zoneOk = true;
    if (v.timeZone !== undefined && canonicalTimeZone(v.timeZone) === null) {
      issue('timeZone', 'expected an IANA time zone name such as Europe/Berlin');
      zoneOk = false;
    }
    if (v.allDay) {
      if (v.start !== undefined) issue('start', 'not allowed for an all-day event (use startDate)');
      if (v.end !== undefined) issue('end', 'not allowed for an all-day event (use endDate)');
      if (v.startDate === undefined) issue('startDate', 'required for an all-day event');
      else if (v.endDate !== undefined && v.endDate < v.startDate) issue('endDate', 'must not be before startDate');
      return;
    }
    if (v.startDate !== undefined) issue('startDate', 'only for all-day events (set allDay: true)');
    if (v.endDate !== undefined) issue('endDate', 'only for all-day events (set allDay: true)');
    if (v.start === undefined) issue('start', 'required for a timed event (or set allDay: true)');
    if (v.end === undefined) issue('end', 'required for a timed event');
    if (v.timeZone === undefined && zoneOk) issue('timeZone', 'required for a timed event');
    if (v.start !== undefined && v.end !== undefined && Date.parse(v.end) < Date.parse(v.start)) {
      issue('end', 'must not be before start');
    }
  })
  .transform((v) => {
    const timing: EventTiming = v.allDay
      ? {
          allDay: true,
          startDate: v.startDate!,
          endDate: v.endDate ?? v.startDate!,
          timeZone: v.timeZone === undefined ? null : canonicalTimeZone(v.timeZone),
        }
      : { allDay: false, start: new Date(v.start!), end: new Date(v.end!), timeZone: canonicalTimeZone(v.timeZone!)! };
    return {
      caseExternalId: v.caseExternalId,
      kind: v.kind,
      title: v.title,
      description: v.description,
      location: v.location,
      timing,
      participants: v.participants,
    };
  })
  .meta({ id: 'EventInput' });
export type EventData = z.output<typeof eventInputSchema>;

/** Document metadata: the JSON `metadata` part of a multipart upload, or the JSON body minus `content`. */
export const documentMetadataSchema = z
  .object({
    caseExternalId: externalIdSchema,
    title: text(500),
    // No regex flags: the OpenAPI document carries the pattern's source only (a flag would be lost, and
    // the published pattern would then match nothing). The control characters (Unicode Cc) spelled out.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    fileName: text(255).regex(/^[^/\\\x00-\x1f\x7f-\x9f]+$/, 'a file name without path separators or control characters'),
    mimeType: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/, 'expected a MIME type such as application/pdf')
      .optional(),
    author: optionalText(300),
    documentDate: isoDate.nullish().transform((v) => v ?? null),
  })
  .meta({ id: 'DocumentMetadata' });
export type DocumentMetadata = z.output<typeof documentMetadataSchema>;

/** The JSON form of a document upload: metadata plus the bytes in base64. */
export const documentJsonSchema = documentMetadataSchema
  .extend({ content: z.base64({ message: 'expected the file content in standard base64' }) })
  .meta({ id: 'DocumentJsonInput' });

const phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9][0-9 ()./-]{1,30}(\s*([xX]|[eE][xX][tT]\.?)\s*[0-9]{1,6})?$/, 'expected a phone number such as +1 312 555 0100');

export const contactInputSchema = z
  .object({
    name: text(300),
    emails: z.array(email).max(20).default([]).transform(unique),
    phones: z.array(phone).max(20).default([]).transform(unique),
    organizationName: optionalText(300),
    role: optionalText(100).meta({ description: 'Role in the case, e.g. opposing counsel, witness, adjuster' }),
    caseExternalId: externalIdSchema.nullish().transform((v) => v ?? null),
  })
  .meta({ id: 'ContactInput' });
export type ContactData = z.output<typeof contactInputSchema>;

/** One entry of `POST /v1/ingest/bulk`; `data` is validated per type afterwards (see `bulkDataSchemas`). */
export const bulkItemSchema = z.object({
  op: z.enum(['upsert', 'delete']),
  type: z.enum(ENTITY_TYPES),
  externalId: externalIdSchema,
  data: z.unknown().optional().meta({
    description: 'For upserts: CaseInput, EventInput, DocumentJsonInput (base64 content) or ContactInput, by type. Ignored for deletes.',
  }),
  ifVersion: z.number().int().positive().max(INT4_MAX).optional().meta({ description: 'Like If-Match: the version you expect' }),
});
export type BulkItem = z.output<typeof bulkItemSchema>;

/** Per-type schema of a bulk item's `data`. */
export const bulkDataSchemas = {
  case: caseInputSchema,
  event: eventInputSchema,
  document: documentJsonSchema,
  contact: contactInputSchema,
} as const;

/**
 * Parses an `If-Match` header: `3`, `"3"`, `W/"3"` or `*`. Returns undefined when absent and
 * null when present but not a version we could have issued.
 */
export function parseIfMatch(header: string | undefined): number | '*' | undefined | null {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return '*';
  const m = /^(?:W\/)?(?:"([1-9][0-9]{0,9})"|([1-9][0-9]{0,9}))$/.exec(value);
  if (!m) return null;
  const n = Number(m[1] ?? m[2]);
  return n <= INT4_MAX ? n : null;
}
