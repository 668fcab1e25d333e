import fc from 'fast-check';
import { foldLines as libraryFoldLines } from 'ical-generator';
import { afterAll, describe, expect, it } from 'vitest';
import { projectFeed } from '../../connectors/ical/project.ts';
import { DEFAULT_CALENDAR_NAME, eventsFromColumns, foldLines, nextDay, type RenderEvent, renderCalendar, renderFeed } from '../../connectors/ical/render.ts';
import type { EventWithCase } from '../../src/cases/queries.ts';
import { allowedFields, type CategoryId } from '../../src/consent/categories.ts';
import { contentLines, expectedText, localDate, parsedEvents, parseFeed, physicalLines, splitLine, unescapeText, veventBlocks } from './support.ts';

const ORIGINAL_TZ = process.env.TZ;
afterAll(() => {
  process.env.TZ = ORIGINAL_TZ;
});

const OPTIONS = { name: 'Cases', refreshSeconds: 3600 };
const VEVENT_PROPERTIES = new Set([
  'UID',
  'SEQUENCE',
  'DTSTAMP',
  'DTSTART',
  'DTEND',
  'SUMMARY',
  'LOCATION',
  'DESCRIPTION',
  'CATEGORIES',
  'X-MICROSOFT-CDO-ALLDAYEVENT',
  'X-MICROSOFT-MSNCALENDAR-ALLDAYEVENT',
]);

/** Text that tries to break out: separators, escapes, line breaks, controls, non-BMP and lone surrogates. */
const nastyUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ',',
      ';',
      '\\',
      '\\n',
      '\n',
      '\r\n',
      '\r',
      ':',
      '"',
      '\t',
      ' ',
      'ü',
      '€',
      '𝄞',
      '👩‍⚖️',
      '\u0000',
      '\u0007',
      '\u001b',
      '\u007f',
      '\ud800',
      '\udc00',
      'N',
    ),
  },
  { weight: 1, arbitrary: fc.constant('X\r\nATTENDEE:mailto:evil@x') },
  { weight: 1, arbitrary: fc.constant('\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil') },
);
const nastyText = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: nastyUnit, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: nastyUnit, minLength: 80, maxLength: 200 }) },
);

let counter = 0;
type EventFields = { title: string; caseNumber: string; location: string | null; description: string | null; participantNames: string[] };
const eventArb: fc.Arbitrary<EventFields> = fc.record({
  title: nastyText,
  caseNumber: nastyText,
  location: fc.option(nastyText, { nil: null }),
  description: fc.option(nastyText, { nil: null }),
  participantNames: fc.array(nastyText, { maxLength: 3 }),
});

function timedEvent(fields: EventFields): RenderEvent {
  counter++;
  return {
    eventId: `e${counter}`,
    sequence: counter,
    stamp: '2026-01-02T03:04:05.000Z',
    allDay: false,
    start: '2026-05-04T08:00:00.000Z',
    end: '2026-05-04T09:00:00.000Z',
    timeZone: 'Europe/Berlin',
    ...fields,
  };
}

/** SUMMARY as the renderer must write it: `[<case number>] <title>`, or the title alone. */
function summaryOf(e: RenderEvent): string {
  const caseNumber = expectedText(e.caseNumber);
  return caseNumber ? `[${caseNumber}] ${expectedText(e.title)}` : expectedText(e.title);
}

/** Checks the structure every feed must have, whatever the text inside. */
function checkStructure(body: string): void {
  // Only CRLF line breaks; no line longer than 75 octets; folding never splits a UTF-8 sequence.
  expect(body.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const line of physicalLines(body)) {
    const bytes = Buffer.from(line, 'utf8');
    expect(bytes.length).toBeLessThanOrEqual(75);
    expect(() => decoder.decode(bytes)).not.toThrow();
  }
  const lines = contentLines(body).map(splitLine);
  expect(lines[0]).toMatchObject({ name: 'BEGIN', value: 'VCALENDAR' });
  expect(lines.at(-1)).toMatchObject({ name: 'END', value: 'VCALENDAR' });
  for (const block of veventBlocks(body)) {
    const names = block.map((l) => l.name);
    for (const n of names) expect(VEVENT_PROPERTIES).toContain(n);
    expect(new Set(names).size).toBe(names.length);
  }
  expect(lines.some((l) => l.name === 'ATTENDEE')).toBe(false);
}

describe('rendering text', () => {
  it('keeps every title, location, description, case number and feed name inside its own property (any Unicode, separators, CRLF injection)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 4 }), nastyText, (fields, name) => {
        const events = fields.map(timedEvent);
        const body = renderCalendar({ ...OPTIONS, name }, events);
        checkStructure(body);

        const blocks = veventBlocks(body);
        expect(blocks).toHaveLength(events.length);
        const calendar = contentLines(body).map(splitLine);
        expect(unescapeText(calendar.find((l) => l.name === 'X-WR-CALNAME')!.value)).toBe(expectedText(name) || DEFAULT_CALENDAR_NAME);
        events.forEach((e, i) => {
          const props = new Map(blocks[i]!.map((l) => [l.name, l.value]));
          expect(props.get('UID')).toBe(`${e.eventId}@casebridge`);
          expect(unescapeText(props.get('SUMMARY')!)).toBe(summaryOf(e));
          const location = expectedText(e.location ?? '');
          expect(props.has('LOCATION')).toBe(location !== '');
          if (location) expect(unescapeText(props.get('LOCATION')!)).toBe(location);
          const description = [e.description, e.participantNames!.length ? `Participants: ${e.participantNames!.join(', ')}` : null]
            .filter(Boolean)
            .join('\n\n');
          expect(props.has('DESCRIPTION')).toBe(expectedText(description) !== '');
          if (props.has('DESCRIPTION')) expect(unescapeText(props.get('DESCRIPTION')!)).toBe(expectedText(description));
          expect(props.has('CATEGORIES')).toBe(expectedText(e.caseNumber) !== '');
          if (props.has('CATEGORIES')) expect(unescapeText(props.get('CATEGORIES')!)).toBe(expectedText(e.caseNumber));
        });

        // node-ical, an independent parser, finds the same events and no extra property. Its TEXT
        // unescape is wrong for `\\n`, it strips quotes around a value, and it drops a property whose
        // value holds U+2028/U+2029 (JavaScript line terminators), so text is compared with it only
        // where those cannot occur (the RFC reader above covers every case).
        const parsed = parsedEvents(body);
        expect([...parsed.keys()].sort()).toEqual(events.map((e) => `${e.eventId}@casebridge`).sort());
        for (const e of events) {
          const p = parsed.get(`${e.eventId}@casebridge`)!;
          expect(p).not.toHaveProperty('attendee');
          const summary = summaryOf(e);
          if (!summary.includes('\\') && !/^".*"$/s.test(summary) && !/[\u2028\u2029]/.test(summary)) expect(p.summary).toBe(summary);
        }
      }),
      { numRuns: 120 },
    );
  });

  it('keeps a CRLF injection attempt in a title as text of SUMMARY', () => {
    const body = renderCalendar(OPTIONS, [
      { ...timedEvent({ title: 'X\r\nATTENDEE:mailto:evil@x', caseNumber: 'C-1', location: null, description: null, participantNames: [] }) },
    ]);
    expect(body).toContain('SUMMARY:[C-1] X\\nATTENDEE:mailto:evil@x\r\n');
    expect(contentLines(body).filter((l) => l.startsWith('ATTENDEE'))).toEqual([]);
    const [event] = [...parsedEvents(body).values()];
    expect(event!.summary).toBe('[C-1] X\nATTENDEE:mailto:evil@x');
    expect(event).not.toHaveProperty('attendee');
  });
});

describe('folding', () => {
  it('folds exactly like ical-generator’s foldLines, for any text (long lines, multi-byte, surrogates, CRLF)', () => {
    const unit = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.constantFrom('a', 'ü', '€', '𝄞', '\r\n', '\ud800', '\udc00', ' '));
    fc.assert(
      fc.property(fc.array(fc.string({ unit, maxLength: 300 }), { maxLength: 5 }), (lines) => {
        const text = lines.join('\r\n');
        expect(foldLines(text)).toBe(libraryFoldLines(text));
      }),
      { numRuns: 500 },
    );
  });
});

describe('rendering dates', () => {
  const zones = [
    'America/Sao_Paulo',
    'Pacific/Auckland',
    'America/New_York',
    'Europe/London',
    'Asia/Kolkata',
    'Pacific/Kiritimati',
    'Pacific/Pago_Pago',
    'UTC',
  ];

  /** The day after, computed independently of the renderer (UTC calendar arithmetic). */
  const dayAfter = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

  it('writes all-day events as DATE with an exclusive end, the same in every process time zone (incl. DST changes)', () => {
    const dateArb = fc
      .date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString().slice(0, 10));
    fc.assert(
      fc.property(dateArb, fc.integer({ min: 0, max: 40 }), fc.constantFrom(...zones), (start, extraDays, tz) => {
        process.env.TZ = tz;
        let last = start;
        for (let i = 0; i < extraDays; i++) last = dayAfter(last);
        const body = renderCalendar(OPTIONS, [
          {
            eventId: 'd1',
            sequence: 1,
            stamp: '2026-01-02T03:04:05.000Z',
            title: 'Deadline',
            caseNumber: 'C-1',
            location: null,
            allDay: true,
            start,
            end: last,
            timeZone: null,
          },
        ]);
        const props = new Map(veventBlocks(body)[0]!.map((l) => [l.name, l]));
        expect(props.get('DTSTART')).toEqual({ name: 'DTSTART', params: 'VALUE=DATE', value: start.replaceAll('-', '') });
        expect(props.get('DTEND')).toEqual({ name: 'DTEND', params: 'VALUE=DATE', value: dayAfter(last).replaceAll('-', '') });
        const parsed = parsedEvents(body).get('d1@casebridge')!;
        expect(parsed.datetype).toBe('date');
        expect(localDate(parsed.start)).toBe(start);
        expect(localDate(parsed.end)).toBe(dayAfter(last));
      }),
      { numRuns: 400 },
    );
  });

  it('computes the exclusive end day on the date string across month, year and leap-day boundaries', () => {
    expect(nextDay('2024-02-28')).toBe('2024-02-29');
    expect(nextDay('2024-02-29')).toBe('2024-03-01');
    expect(nextDay('2100-02-28')).toBe('2100-03-01');
    expect(nextDay('2025-12-31')).toBe('2026-01-01');
    expect(() => nextDay('2025-02-30')).toThrow();
  });

  it('writes timed events so that the parsed instant is the input instant, in any zone', () => {
    const allZones = Intl.supportedValuesOf('timeZone');
    fc.assert(
      fc.property(
        // From 1971: instants before ZONED_FROM_YEAR (2000) are written in UTC, later ones zoned.
        fc.integer({ min: Date.UTC(1971, 0, 2) / 1000, max: Date.UTC(2037, 11, 1) / 1000 }),
        fc.integer({ min: 0, max: 72 * 3600 }),
        fc.constantFrom(...allZones),
        fc.constantFrom(...zones),
        (startSeconds, durationSeconds, zone, processTz) => {
          process.env.TZ = processTz;
          const start = new Date(startSeconds * 1000).toISOString();
          const end = new Date((startSeconds + durationSeconds) * 1000).toISOString();
          const body = renderCalendar(OPTIONS, [
            {
              eventId: 't1',
              sequence: 1,
              stamp: '2026-01-02T03:04:05.000Z',
              title: 'Hearing',
              caseNumber: 'C-1',
              location: null,
              allDay: false,
              start,
              end,
              timeZone: zone,
            },
          ]);
          checkStructure(body);
          const props = new Map(veventBlocks(body)[0]!.map((l) => [l.name, l]));
          const dtstart = props.get('DTSTART')!;
          if (dtstart.params) {
            // A TZID always comes with its VTIMEZONE.
            const tzid = dtstart.params.replace(/^TZID=/, '');
            expect(contentLines(body)).toContain(`TZID:${tzid}`);
          } else {
            expect(dtstart.value).toMatch(/Z$/);
          }
          const parsed = parsedEvents(body).get('t1@casebridge')!;
          expect(parsed.start.getTime()).toBe(startSeconds * 1000);
          expect(parsed.end.getTime()).toBe((startSeconds + durationSeconds) * 1000);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('writes an instant before 2000 in UTC, where zone histories disagree (America/Tijuana, April 1971)', () => {
    process.env.TZ = 'UTC';
    const body = renderCalendar(OPTIONS, [
      {
        eventId: 'h',
        sequence: 1,
        stamp: '2026-01-02T03:04:05.000Z',
        title: 'H',
        caseNumber: 'C',
        location: null,
        allDay: false,
        start: '1971-04-25T10:00:00.000Z',
        end: null,
        timeZone: 'America/Tijuana',
      },
      {
        eventId: 'n',
        sequence: 1,
        stamp: '2026-01-02T03:04:05.000Z',
        title: 'N',
        caseNumber: 'C',
        location: null,
        allDay: false,
        start: '2026-04-26T10:00:00.000Z',
        end: null,
        timeZone: 'America/Tijuana',
      },
    ]);
    expect(contentLines(body)).toContain('DTSTART:19710425T100000Z');
    expect(contentLines(body)).toContain('DTSTART;TZID=America/Tijuana:20260426T030000');
    expect(parsedEvents(body).get('h@casebridge')!.start.toISOString()).toBe('1971-04-25T10:00:00.000Z');
  });

  it('emits one VTIMEZONE per zone used and REFRESH-INTERVAL / X-PUBLISHED-TTL from the configuration', () => {
    const body = renderCalendar({ name: 'Cases', refreshSeconds: 2 * 3600 }, [
      {
        eventId: 'a',
        sequence: 1,
        stamp: '2026-01-02T03:04:05.000Z',
        title: 'A',
        caseNumber: 'C',
        location: null,
        allDay: false,
        start: '2026-05-04T08:00:00.000Z',
        end: null,
        timeZone: 'Europe/Berlin',
      },
      {
        eventId: 'b',
        sequence: 1,
        stamp: '2026-01-02T03:04:05.000Z',
        title: 'B',
        caseNumber: 'C',
        location: null,
        allDay: false,
        start: '2026-06-04T08:00:00.000Z',
        end: null,
        timeZone: 'Europe/Berlin',
      },
      {
        eventId: 'c',
        sequence: 1,
        stamp: '2026-01-02T03:04:05.000Z',
        title: 'C',
        caseNumber: 'C',
        location: null,
        allDay: false,
        start: '2026-06-04T08:00:00.000Z',
        end: null,
        timeZone: 'America/Chicago',
      },
    ]);
    const lines = contentLines(body);
    expect(lines.filter((l) => l === 'BEGIN:VTIMEZONE')).toHaveLength(2);
    expect(lines).toContain('REFRESH-INTERVAL;VALUE=DURATION:PT2H');
    expect(lines).toContain('X-PUBLISHED-TTL:PT2H');
    expect(lines).toContain('DTSTART;TZID=Europe/Berlin:20260504T100000');
    expect(lines).toContain('DTSTAMP:20260102T030405Z');
    expect(Object.values(parseFeed(body)).find((c) => c.type === 'VCALENDAR')).toMatchObject({ 'WR-CALNAME': 'Cases' });
  });
});

describe('projection and minimisation', () => {
  const event = (over: Partial<EventWithCase>): EventWithCase => ({
    id: '00000000-0000-4000-8000-000000000001',
    externalId: 'ev-1',
    caseId: '00000000-0000-4000-8000-0000000000c1',
    caseNumber: 'PI-2026-1',
    caseTitle: 'Miller v. Eastside',
    kind: 'court_date',
    title: 'Hearing',
    description: 'Bring the exhibits',
    location: 'Room 4',
    startsAt: new Date('2026-05-04T08:00:00Z'),
    endsAt: new Date('2026-05-04T09:00:00Z'),
    timeZone: 'Europe/Berlin',
    startDate: null,
    endDate: null,
    participants: [{ name: 'Jane Witness', email: 'jane@example.test' }],
    version: 7,
    updatedAt: new Date('2026-01-02T03:04:05Z'),
    ...over,
  });

  /** What the gate does: keep the fields of the consented categories (the registry is the source). */
  const minimise = (fields: Record<string, unknown>, categories: CategoryId[]) => {
    const allowed = allowedFields(categories);
    return Object.fromEntries(Object.entries(fields).filter(([k]) => allowed.has(k)));
  };

  it('projects one item for the whole feed, naming every event and case, with registry field names only', () => {
    const p = projectFeed({
      feedId: 'f1',
      events: [event({}), event({ id: '00000000-0000-4000-8000-000000000002', caseId: '00000000-0000-4000-8000-0000000000c2' })],
    });
    expect(p.item).toMatchObject({
      operation: 'publish',
      categories: ['calendar.events', 'calendar.events.details'],
      recipient: { account: null, destination: 'ical-feed:f1' },
      subjects: {
        caseIds: ['00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-0000000000c2'],
        eventIds: ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'],
      },
    });
    const registry = allowedFields(['calendar.events', 'calendar.events.details']);
    for (const name of Object.keys(p.item.fields)) expect(registry.has(name)).toBe(true);
    expect(p.envelope.sequences).toEqual([7, 7]);
  });

  it('renders no DESCRIPTION and no participant names without calendar.events.details', () => {
    const p = projectFeed({ feedId: 'f1', events: [event({})] });
    const without = renderFeed({ options: OPTIONS, minimised: minimise(p.item.fields, ['calendar.events']), envelope: p.envelope });
    const text = without.body.toString('utf8');
    expect(text).not.toContain('DESCRIPTION');
    expect(text).not.toContain('Jane Witness');
    expect(text).not.toContain('Bring the exhibits');
    expect(text).toContain('SUMMARY:[PI-2026-1] Hearing');

    const withDetails = renderFeed({
      options: OPTIONS,
      minimised: minimise(p.item.fields, ['calendar.events', 'calendar.events.details']),
      envelope: p.envelope,
    });
    expect(parsedEvents(withDetails.body.toString('utf8')).get(`${event({}).id}@casebridge`)!.description).toBe(
      'Bring the exhibits\n\nParticipants: Jane Witness',
    );
  });

  it('gives a strong ETag that changes with the content and only with it', () => {
    const p = projectFeed({ feedId: 'f1', events: [event({})] });
    const a = renderFeed({ options: OPTIONS, minimised: p.item.fields, envelope: p.envelope });
    const b = renderFeed({ options: OPTIONS, minimised: p.item.fields, envelope: p.envelope });
    expect(a.etag).toMatch(/^"sha256-[0-9a-f]{64}"$/);
    expect(b.etag).toBe(a.etag);
    const q = projectFeed({ feedId: 'f1', events: [event({ title: 'Hearing (moved)', version: 8 })] });
    expect(renderFeed({ options: OPTIONS, minimised: q.item.fields, envelope: q.envelope }).etag).not.toBe(a.etag);
  });

  it('refuses columns of the wrong shape instead of rendering something else', () => {
    const p = projectFeed({ feedId: 'f1', events: [event({})] });
    expect(() => eventsFromColumns({ ...p.item.fields, title: [] }, p.envelope)).toThrow(/title/);
    const { start: _start, ...noStart } = p.item.fields;
    expect(() => eventsFromColumns(noStart, p.envelope)).toThrow(/start/);
  });
});
