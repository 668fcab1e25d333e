import { describe, expect, it } from 'vitest';
import {
  canonicalTimeZone,
  caseInputSchema,
  contactInputSchema,
  documentJsonSchema,
  documentMetadataSchema,
  eventInputSchema,
  externalIdSchema,
  parseIfMatch,
} from '../../src/cases/schemas.ts';

/** The field paths of a failed parse, for asserting which fields were named. */
function paths(result: { success: boolean; error?: { issues: Array<{ path: PropertyKey[] }> } }): string[] {
  expect(result.success).toBe(false);
  return result.error!.issues.map((i) => i.path.join('.'));
}

const timed = {
  caseExternalId: 'c-1',
  kind: 'court_date',
  title: 'Motion hearing',
  start: '2025-03-14T09:30:00-05:00',
  end: '2025-03-14T10:30:00-05:00',
  timeZone: 'America/Chicago',
};

describe('case input', () => {
  it('lower-cases, de-duplicates and sorts assignees so their order never makes a new version', () => {
    const a = caseInputSchema.parse({ number: 'PI-1', title: 'A v. B', assignees: ['Bob@Firm.example', 'alice@firm.example', 'bob@firm.example'] });
    const b = caseInputSchema.parse({ number: 'PI-1', title: 'A v. B', assignees: ['alice@firm.example', 'BOB@firm.example'] });
    expect(a.assignees).toEqual(['alice@firm.example', 'bob@firm.example']);
    expect(b).toEqual(a);
  });

  it('stores blank optional text as null and defaults the status to open', () => {
    const c = caseInputSchema.parse({ number: ' PI-1 ', title: 'A v. B', clientName: '   ', practiceArea: ' ' });
    expect(c).toEqual({ number: 'PI-1', title: 'A v. B', clientName: null, status: 'open', practiceArea: null, assignees: [] });
  });

  it('names each bad field', () => {
    expect(paths(caseInputSchema.safeParse({ title: '', assignees: ['not-an-email'] }))).toEqual(['number', 'title', 'assignees.0']);
  });
});

describe('event input', () => {
  it('accepts a timed event and canonicalises the zone name', () => {
    const e = eventInputSchema.parse({ ...timed, timeZone: 'america/chicago' });
    expect(e.timing).toEqual({
      allDay: false,
      start: new Date('2025-03-14T14:30:00Z'),
      end: new Date('2025-03-14T15:30:00Z'),
      timeZone: 'America/Chicago',
    });
  });

  it('accepts an all-day event whose end defaults to its start (inclusive)', () => {
    const e = eventInputSchema.parse({ caseExternalId: 'c-1', kind: 'deadline', title: 'SOL', allDay: true, startDate: '2026-05-04' });
    expect(e.timing).toEqual({ allDay: true, startDate: '2026-05-04', endDate: '2026-05-04', timeZone: null });
  });

  it('refuses text PostgreSQL cannot store (a NUL character, an unpaired surrogate), naming the field', () => {
    expect(paths(caseInputSchema.safeParse({ number: 'PI-1\u0000', title: 'T' }))).toEqual(['number']);
    expect(paths(eventInputSchema.safeParse({ ...timed, description: 'a\u0000b' }))).toEqual(['description']);
    expect(paths(contactInputSchema.safeParse({ name: 'N', role: '\u0000' }))).toEqual(['role']);
    expect(paths(caseInputSchema.safeParse({ number: 'PI-1', title: 'A\uD800B' }))).toEqual(['title']);
    expect(paths(caseInputSchema.safeParse({ number: 'PI-1', title: 'A\uDC00' }))).toEqual(['title']);
    expect(caseInputSchema.parse({ number: 'PI-1', title: 'Smile \uD83D\uDE00' }).title).toBe('Smile \u{1F600}');
  });

  it('refuses all-day dates whose exclusive end would not be a YYYY-MM-DD date', () => {
    const allDay = { caseExternalId: 'c-1', kind: 'deadline', title: 'SOL', allDay: true };
    expect(paths(eventInputSchema.safeParse({ ...allDay, startDate: '2026-05-04', endDate: '9999-12-31' }))).toEqual(['endDate']);
    expect(paths(eventInputSchema.safeParse({ ...allDay, startDate: '0000-12-31' }))).toEqual(['startDate']);
    expect(eventInputSchema.parse({ ...allDay, startDate: '2026-05-04', endDate: '9999-12-30' }).timing).toMatchObject({ endDate: '9999-12-30' });
  });

  it('refuses zones Intl does not know and UTC offsets', () => {
    expect(paths(eventInputSchema.safeParse({ ...timed, timeZone: 'Mars/Olympus_Mons' }))).toEqual(['timeZone']);
    expect(paths(eventInputSchema.safeParse({ ...timed, timeZone: '+01:00' }))).toEqual(['timeZone']);
    expect(canonicalTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('Nowhere/City')).toBeNull();
  });

  it('names start, end and timeZone when a timed event lacks them', () => {
    expect(paths(eventInputSchema.safeParse({ caseExternalId: 'c-1', kind: 'meeting', title: 'M' }))).toEqual(['start', 'end', 'timeZone']);
  });

  it('refuses an end before the start', () => {
    expect(paths(eventInputSchema.safeParse({ ...timed, end: '2025-03-14T08:00:00-05:00' }))).toEqual(['end']);
  });

  it('refuses date-times without an offset (they would be ambiguous)', () => {
    expect(paths(eventInputSchema.safeParse({ ...timed, start: '2025-03-14T09:30:00' }))).toEqual(['start']);
  });

  it('refuses mixing timed and all-day fields', () => {
    const mixed = { caseExternalId: 'c-1', kind: 'deadline', title: 'SOL', allDay: true, startDate: '2026-05-04', start: timed.start };
    expect(paths(eventInputSchema.safeParse(mixed))).toEqual(['start']);
    expect(paths(eventInputSchema.safeParse({ ...timed, startDate: '2026-05-04' }))).toEqual(['startDate']);
  });

  it('refuses impossible dates and an all-day end before its start', () => {
    const base = { caseExternalId: 'c-1', kind: 'deadline', title: 'SOL', allDay: true };
    expect(paths(eventInputSchema.safeParse({ ...base, startDate: '2025-02-29' }))).toEqual(['startDate']);
    expect(paths(eventInputSchema.safeParse({ ...base, startDate: '2025-03-02', endDate: '2025-03-01' }))).toEqual(['endDate']);
  });

  it('refuses an unknown kind and a participant without a name', () => {
    expect(paths(eventInputSchema.safeParse({ ...timed, kind: 'party', participants: [{ email: 'x@y.example' }] }))).toEqual(['kind', 'participants.0.name']);
  });
});

describe('contact and document input', () => {
  it('lower-cases and de-duplicates contact e-mails and keeps their order', () => {
    const c = contactInputSchema.parse({ name: 'Dana', emails: ['Z@x.example', 'a@x.example', 'z@X.example'], phones: ['+1 312 555 0100'] });
    expect(c.emails).toEqual(['z@x.example', 'a@x.example']);
    expect(c.caseExternalId).toBeNull();
  });

  it('names bad contact e-mails and phone numbers', () => {
    expect(paths(contactInputSchema.safeParse({ name: 'Dana', emails: ['ok@x.example', 'nope'], phones: ['call me'] }))).toEqual(['emails.1', 'phones.0']);
  });

  it('refuses file names with path separators and malformed MIME types', () => {
    const meta = { caseExternalId: 'c-1', title: 'Letter', fileName: '../etc/passwd', mimeType: 'pdf' };
    expect(paths(documentMetadataSchema.safeParse(meta))).toEqual(['fileName', 'mimeType']);
  });

  it('requires base64 content in the JSON form', () => {
    const meta = { caseExternalId: 'c-1', title: 'Letter', fileName: 'letter.txt' };
    expect(paths(documentJsonSchema.safeParse({ ...meta, content: 'not base64!' }))).toEqual(['content']);
    expect(documentJsonSchema.parse({ ...meta, content: Buffer.from('hi').toString('base64') }).content).toBe('aGk=');
  });
});

describe('external ids and If-Match', () => {
  it('accepts URL-safe external ids only', () => {
    expect(externalIdSchema.safeParse('case-2024:0117@hk').success).toBe(true);
    expect(externalIdSchema.safeParse('a/b').success).toBe(false);
    expect(externalIdSchema.safeParse('has space').success).toBe(false);
    expect(externalIdSchema.safeParse('x'.repeat(201)).success).toBe(false);
  });

  it('reads plain, quoted and weak versions and *', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch('3')).toBe(3);
    expect(parseIfMatch('"3"')).toBe(3);
    expect(parseIfMatch('W/"12"')).toBe(12);
    expect(parseIfMatch(' * ')).toBe('*');
  });

  it('rejects what cannot be a version', () => {
    for (const bad of ['0', '-1', 'abc', '"3', '3"', '1.5', '99999999999']) expect(parseIfMatch(bad)).toBeNull();
  });
});
