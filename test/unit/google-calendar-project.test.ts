import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toGoogleEvent } from '../../connectors/google-calendar/apply.ts';
import { base32hex, eventFields, googleEventId, projectEvents, zonedDateTime } from '../../connectors/google-calendar/project.ts';
import { addDays } from '../../src/cases/calendar-date.ts';
import type { EventWithCase } from '../../src/cases/queries.ts';

const base: EventWithCase = {
  id: '11111111-1111-4111-8111-111111111111',
  externalId: 'ev-1',
  caseId: '22222222-2222-4222-8222-222222222222',
  caseNumber: 'PI-2024-0117',
  caseTitle: 'Miller v. Eastside',
  kind: 'court_date',
  title: 'Motion hearing',
  description: 'Bring the exhibits',
  location: 'Courtroom 4B',
  startsAt: new Date('2026-03-02T14:00:00Z'),
  endsAt: new Date('2026-03-02T15:30:00Z'),
  timeZone: 'America/New_York',
  startDate: null,
  endDate: null,
  participants: [{ name: 'Dana Witness', email: 'dana@example.com' }, { name: 'Opposing Counsel' }],
  version: 1,
  updatedAt: new Date('2026-01-01T00:00:00Z'),
};
const allDay: EventWithCase = { ...base, kind: 'deadline', startsAt: null, endsAt: null, timeZone: null, startDate: '2026-12-31', endDate: '2026-12-31' };

describe('Google event ids', () => {
  it('are base32hex (a-v, 0-9), within 5-1024 characters, deterministic and distinct per connection', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.uuid(), (conn, ev) => {
        const id = googleEventId(conn, ev);
        expect(id).toMatch(/^[a-v0-9]{5,1024}$/);
        expect(googleEventId(conn, ev)).toBe(id);
      }),
    );
    expect(googleEventId('c1', 'e1')).not.toBe(googleEventId('c2', 'e1'));
    expect(googleEventId('c1', 'e1')).not.toBe(googleEventId('c1', 'e2'));
  });

  it('encodes base32hex per RFC 4648 (lower case)', () => {
    expect(base32hex(Buffer.from('foobar'))).toBe('cpnmuoj1e8');
    expect(base32hex(Buffer.from('f'))).toBe('co');
  });
});

describe('calendar dates', () => {
  it('adds days on the date itself across months, years and leap days', () => {
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2027-02-28', 1)).toBe('2027-03-01');
    expect(addDays('2026-03-29', 1)).toBe('2026-03-30'); // a DST change in Europe: irrelevant to a date
  });

  it('formats an instant as wall time with the zone offset, DST included', () => {
    expect(zonedDateTime(new Date('2026-03-02T14:00:00Z'), 'America/New_York')).toBe('2026-03-02T09:00:00-05:00');
    expect(zonedDateTime(new Date('2026-07-02T14:00:00Z'), 'America/New_York')).toBe('2026-07-02T10:00:00-04:00');
    expect(zonedDateTime(new Date('2026-07-02T14:00:00Z'), 'Asia/Kolkata')).toBe('2026-07-02T19:30:00+05:30');
    expect(zonedDateTime(new Date('2026-07-02T14:00:00Z'), 'UTC')).toBe('2026-07-02T14:00:00Z');
  });
});

describe('projection', () => {
  it('with calendar.events only: no description, no participant names', () => {
    const f = eventFields(base, ['calendar.events'])!;
    expect(f).toEqual({
      title: 'Motion hearing',
      start: '2026-03-02T09:00:00-05:00',
      end: '2026-03-02T10:30:00-05:00',
      allDay: false,
      timeZone: 'America/New_York',
      location: 'Courtroom 4B',
      caseNumber: 'PI-2024-0117',
    });
    const withDetails = eventFields(base, ['calendar.events', 'calendar.events.details'])!;
    expect(withDetails.description).toBe('Bring the exhibits');
    expect(withDetails.participantNames).toEqual(['Dana Witness', 'Opposing Counsel']);
    expect(JSON.stringify(withDetails)).not.toContain('dana@example.com');
    expect(eventFields(base, ['calendar.events.details'])).toBeNull();
  });

  it('all-day events: dates with an exclusive end (the day after the inclusive last day)', () => {
    expect(eventFields(allDay, ['calendar.events'])).toMatchObject({ start: '2026-12-31', end: '2027-01-01', allDay: true });
    expect(eventFields({ ...allDay, endDate: '2027-01-02' }, ['calendar.events'])).toMatchObject({ end: '2027-01-03' });
  });

  it('hashes change with content, consent and reminder settings, and only then', () => {
    const p = (events: EventWithCase[], categories = ['calendar.events'] as const, settings = {}) =>
      projectEvents({ events, categories: [...categories], connectionId: 'conn', settings })[0]!;
    const a = p([base]);
    expect(p([{ ...base, updatedAt: new Date(), version: 9 }]).hash).toBe(a.hash); // bookkeeping is not content
    expect(p([{ ...base, title: 'Other' }]).hash).not.toBe(a.hash);
    expect(p([base], ['calendar.events', 'calendar.events.details'] as unknown as readonly ['calendar.events']).hash).not.toBe(a.hash);
    const d = p([allDay]);
    expect(p([allDay], ['calendar.events'], { deadlineReminders: true }).hash).not.toBe(d.hash);
    expect(p([base], ['calendar.events'], { deadlineReminders: true }).hash).toBe(a.hash); // not a deadline
    expect(a.key).toBe(`event:${base.id}`);
    expect(a.remoteId).toBe(googleEventId('conn', base.id));
    expect(a.subjects).toEqual({ caseIds: [base.caseId], eventIds: [base.id] });
  });
});

describe('Google event body', () => {
  it('maps the minimised fields and clears what the consent no longer covers', () => {
    const fields = eventFields(base, ['calendar.events'])!;
    const body = toGoogleEvent({ fields, desired: { caseId: base.caseId, key: `event:${base.id}`, meta: { reminderMinutes: null } }, connectionId: 'conn' });
    expect(body).toEqual({
      summary: 'PI-2024-0117: Motion hearing',
      description: null,
      location: 'Courtroom 4B',
      start: { dateTime: '2026-03-02T09:00:00-05:00', timeZone: 'America/New_York' },
      end: { dateTime: '2026-03-02T10:30:00-05:00', timeZone: 'America/New_York' },
      status: 'confirmed',
      reminders: { useDefault: true, overrides: [] },
      extendedProperties: { private: { casebridgeCaseId: base.caseId, casebridgeEventId: base.id, casebridgeConnectionId: 'conn' } },
    });
    const day = toGoogleEvent({
      fields: eventFields(allDay, ['calendar.events', 'calendar.events.details'])!,
      desired: { caseId: base.caseId, key: 'event:x', meta: { reminderMinutes: 60 } },
      connectionId: 'conn',
    });
    expect([day.start, day.end]).toEqual([{ date: '2026-12-31' }, { date: '2027-01-01' }]);
    expect(day.description).toBe('Bring the exhibits\n\nParticipants: Dana Witness, Opposing Counsel');
    expect(day.reminders).toEqual({ useDefault: false, overrides: [{ method: 'popup', minutes: 60 }] });
  });
});
