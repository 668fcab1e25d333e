import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseVtimezone, vtimezoneComponent, vtimezoneLocalToUtc, weekdayOf, zoneInstant, zoneRulesFor } from '../../connectors/ical/time-zones.ts';
import { daysInMonth } from '../../src/cases/calendar-date.ts';
import { wallTimeIn } from '../../src/cases/wall-time.ts';

const HOUR = 3_600_000;

describe('VTIMEZONE evaluation', () => {
  it('parses the package’s Europe/Berlin component into standard and daylight yearly rules', () => {
    const rules = zoneRulesFor('Europe/Berlin');
    expect(rules).toMatchObject({
      tzid: 'Europe/Berlin',
      standard: { offsetTo: 60, offsetFrom: 120, rule: { month: 10, nth: -1, weekday: 0 } },
      daylight: { offsetTo: 120, offsetFrom: 60, rule: { month: 3, nth: -1, weekday: 0 } },
    });
  });

  it('refuses VTIMEZONE shapes it cannot evaluate (RDATE, several observances, other rule parts)', () => {
    const base = (extra: string) =>
      `BEGIN:VTIMEZONE\nTZID:X/Y\nBEGIN:STANDARD\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0100\nDTSTART:19700101T000000\n${extra}END:STANDARD\nEND:VTIMEZONE\n`;
    expect(parseVtimezone(base(''))).not.toBeNull();
    expect(parseVtimezone(base('RDATE:19800101T000000\n'))).toBeNull();
    expect(parseVtimezone(base('RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;UNTIL=20000101T000000Z\n'))).toBeNull();
    expect(parseVtimezone(`${base('')}BEGIN:STANDARD\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nDTSTART:19800101T000000\nEND:STANDARD\n`)).toBeNull();
  });

  it('computes weekdays and month lengths by calendar arithmetic', () => {
    expect(weekdayOf(2025, 3, 30)).toBe(0); // a Sunday
    expect(weekdayOf(2000, 1, 1)).toBe(6); // a Saturday
    expect(daysInMonth(2024, 2)).toBe(29);
    expect(daysInMonth(2100, 2)).toBe(28);
    expect(daysInMonth(2000, 2)).toBe(29);
  });

  it('maps every wall time of Europe/Berlin, America/New_York and Australia/Sydney back to the tz database instant', () => {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Sydney']) {
      const rules = zoneRulesFor(zone)!;
      fc.assert(
        fc.property(fc.integer({ min: Date.UTC(2008, 0, 1) / 1000, max: Date.UTC(2037, 0, 1) / 1000 }), (seconds) => {
          const t = seconds * 1000;
          const wall = wallTimeIn(t, zone)!;
          const back = vtimezoneLocalToUtc(rules, wall);
          // The only disagreement allowed: the repeated hour at the end of daylight time, where a
          // VTIMEZONE reader takes the first occurrence.
          if (back !== t) expect(back).toBe(t - HOUR);
        }),
        { numRuns: 400 },
      );
    }
  });

  it('treats a repeated local time as its first occurrence and a skipped one as unknown', () => {
    const rules = zoneRulesFor('Europe/Berlin')!;
    // 2025-10-26 02:30 happens twice in Berlin (CEST then CET); 2025-03-30 02:30 never happens.
    expect(vtimezoneLocalToUtc(rules, { year: 2025, month: 10, day: 26, hour: 2, minute: 30, second: 0 })).toBe(Date.UTC(2025, 9, 26, 0, 30));
    expect(vtimezoneLocalToUtc(rules, { year: 2025, month: 3, day: 30, hour: 2, minute: 30, second: 0 })).toBeNull();
  });
});

describe('zoneInstant', () => {
  it('writes an event in its zone when the shipped VTIMEZONE reproduces the instant', () => {
    const t = Date.UTC(2026, 6, 1, 7, 0, 0);
    expect(zoneInstant(t, 'Europe/Berlin')).toEqual({
      kind: 'zoned',
      tzid: 'Europe/Berlin',
      wall: { year: 2026, month: 7, day: 1, hour: 9, minute: 0, second: 0 },
    });
  });

  it('falls back to UTC where the package’s rules are out of date (Mexico City has had no DST since 2022)', () => {
    expect(zoneInstant(Date.UTC(2026, 6, 1, 15), 'America/Mexico_City')).toEqual({ kind: 'utc' });
    // In winter the stale rules happen to agree, and the zone is kept.
    expect(zoneInstant(Date.UTC(2026, 0, 15, 15), 'America/Mexico_City').kind).toBe('zoned');
  });

  it('falls back to UTC for the second occurrence of a repeated hour', () => {
    // 2025-11-02 01:30 EST (06:30Z) is the second 01:30 in New York that night.
    expect(zoneInstant(Date.UTC(2025, 10, 2, 6, 30), 'America/New_York')).toEqual({ kind: 'utc' });
    expect(zoneInstant(Date.UTC(2025, 10, 2, 5, 30), 'America/New_York').kind).toBe('zoned');
  });

  it('keeps the zone name as TZID (the VTIMEZONE is renamed to match) and writes unknown or UTC zones as UTC', () => {
    expect(zoneInstant(Date.UTC(2026, 0, 15, 15), 'US/Eastern')).toMatchObject({ kind: 'zoned', tzid: 'US/Eastern' });
    // The package files Asia/Katmandu under the Windows name "Nepal Time".
    expect(vtimezoneComponent('Asia/Katmandu')).toMatch(/^TZID:Asia\/Katmandu$/m);
    expect(zoneInstant(Date.UTC(2026, 0, 15, 15), 'Mars/Olympus_Mons')).toEqual({ kind: 'utc' });
    expect(zoneInstant(Date.UTC(2026, 0, 15, 15), 'UTC')).toEqual({ kind: 'utc' });
    expect(zoneInstant(Date.UTC(2026, 0, 15, 15), null)).toEqual({ kind: 'utc' });
  });
});
