import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, parseDate } from '../../src/cases/calendar-date.ts';

const DAY_MS = 86_400_000;

/**
 * Reference: the `Date` object as a proleptic-Gregorian day counter in UTC. `setUTCFullYear` rather
 * than `Date.UTC(y, …)` alone, which would read years 0–99 as 1900–1999.
 */
function refEpochDay(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(2000, 0, 1));
  t.setUTCFullYear(y, m - 1, d);
  return t.getTime() / DAY_MS;
}

function refDate(epochDay: number): string {
  const t = new Date(epochDay * DAY_MS);
  const y = t.getUTCFullYear();
  return `${String(y).padStart(4, '0')}-${String(t.getUTCMonth() + 1).padStart(2, '0')}-${String(t.getUTCDate()).padStart(2, '0')}`;
}

const FIRST = refEpochDay('0000-01-01');
const LAST = refEpochDay('9999-12-31');
/** Any `YYYY-MM-DD` date from 0000-01-01 to 9999-12-31, by its day number. */
const anyDay = fc.integer({ min: FIRST, max: LAST });

describe('calendar dates: addDays', () => {
  it('crosses month ends', () => {
    expect(addDays('2025-01-31', 1)).toBe('2025-02-01');
    expect(addDays('2025-04-30', 1)).toBe('2025-05-01');
    expect(addDays('2025-03-01', -1)).toBe('2025-02-28');
    expect(addDays('2025-05-01', -1)).toBe('2025-04-30');
    expect(addDays('2025-01-31', 30)).toBe('2025-03-02');
    expect(addDays('2025-06-15', 0)).toBe('2025-06-15');
  });

  it('knows 28 and 29 February (4-, 100- and 400-year rules)', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-02-29', 1)).toBe('2024-03-01');
    expect(addDays('2025-02-28', 1)).toBe('2025-03-01');
    expect(addDays('2100-02-28', 1)).toBe('2100-03-01');
    expect(addDays('2000-02-28', 1)).toBe('2000-02-29');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(addDays('1900-03-01', -1)).toBe('1900-02-28');
    expect(addDays('2024-02-29', 365)).toBe('2025-02-28');
    expect(addDays('2024-02-29', 366)).toBe('2025-03-01');
    expect(addDays('2024-02-29', 4 * 365 + 1)).toBe('2028-02-29');
  });

  it('crosses year ends both ways', () => {
    expect(addDays('2025-12-31', 1)).toBe('2026-01-01');
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31');
    expect(addDays('1999-12-31', 1)).toBe('2000-01-01');
    expect(addDays('2025-01-01', -365)).toBe('2024-01-02');
    expect(addDays('2025-01-01', -366)).toBe('2024-01-01');
  });

  it('takes negative and large offsets', () => {
    expect(addDays('2025-03-10', -10)).toBe('2025-02-28');
    expect(addDays('2025-03-10', -69)).toBe('2024-12-31');
    expect(addDays('1970-01-01', 1_000_000)).toBe('4707-11-29');
    expect(addDays('4707-11-29', -1_000_000)).toBe('1970-01-01');
    expect(addDays('2000-01-01', 146_097)).toBe('2400-01-01'); // one 400-year cycle
    expect(addDays('0000-01-01', refEpochDay('9999-12-31') - refEpochDay('0000-01-01'))).toBe('9999-12-31');
  });

  it('is a date, not an instant: no time zone or daylight-saving change moves it', () => {
    const tz = process.env.TZ;
    try {
      for (const zone of ['America/New_York', 'Europe/Berlin', 'Pacific/Kiritimati', 'Pacific/Pago_Pago']) {
        process.env.TZ = zone;
        expect(addDays('2026-03-29', 1)).toBe('2026-03-30');
        expect(addDays('2026-03-08', 1)).toBe('2026-03-09');
        expect(addDays('2026-11-01', -1)).toBe('2026-10-31');
      }
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  it('keeps years 0000–0099 (Date.UTC would read them as 1900–1999)', () => {
    expect(addDays('0050-06-01', 1)).toBe('0050-06-02');
    expect(addDays('0000-01-01', 0)).toBe('0000-01-01');
    expect(addDays('0000-02-28', 1)).toBe('0000-02-29'); // year 0 is a leap year (divisible by 400)
    expect(addDays('0001-01-01', -1)).toBe('0000-12-31');
    expect(addDays('0099-12-31', 1)).toBe('0100-01-01');
  });

  it('refuses what is not a calendar date, a fractional offset, or a result outside 0000–9999', () => {
    for (const bad of [
      '2025-02-29',
      '2025-02-30',
      '2100-02-29',
      '2025-04-31',
      '2025-13-01',
      '2025-00-10',
      '2025-01-00',
      '2025-1-01',
      '25-01-01',
      '2025-01-01T00:00:00Z',
      ' 2025-01-01',
      '',
    ]) {
      expect(() => addDays(bad, 1), bad).toThrow(RangeError);
    }
    expect(() => addDays('2025-01-01', 0.5)).toThrow(RangeError);
    expect(() => addDays('2025-01-01', Number.NaN)).toThrow(RangeError);
    expect(() => addDays('2025-01-01', Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => addDays('9999-12-31', 1)).toThrow(RangeError);
    expect(() => addDays('0000-01-01', -1)).toThrow(RangeError);
    expect(() => addDays('2025-01-01', Number.MAX_SAFE_INTEGER)).toThrow(RangeError);
    expect(() => addDays('2025-01-01', Number.MIN_SAFE_INTEGER)).toThrow(RangeError);
  });

  it('agrees with a Date-based reference for any date and offset in 0000–9999', () => {
    fc.assert(
      fc.property(anyDay, anyDay, (from, to) => {
        expect(addDays(refDate(from), to - from)).toBe(refDate(to));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with Date.UTC day counting for short offsets around 1583–2500', () => {
    const lo = Date.UTC(1583, 0, 1) / DAY_MS;
    const hi = Date.UTC(2500, 11, 31) / DAY_MS;
    fc.assert(
      fc.property(fc.integer({ min: lo, max: hi }), fc.integer({ min: -800, max: 800 }), (day, n) => {
        const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
        const expected = new Date(Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)) + n)).toISOString().slice(0, 10);
        expect(addDays(date, n)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('undoes itself: addDays(addDays(d, n), -n) === d', () => {
    fc.assert(
      fc.property(anyDay, fc.integer({ min: -(LAST - FIRST), max: LAST - FIRST }), (day, n) => {
        fc.pre(day + n >= FIRST && day + n <= LAST);
        const d = refDate(day);
        expect(addDays(addDays(d, n), -n)).toBe(d);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(anyDay, fc.integer({ min: -1000, max: 1000 }), (day, n) => {
        fc.pre(day + n >= FIRST && day + n <= LAST);
        const d = refDate(day);
        expect(addDays(addDays(d, n), -n)).toBe(d);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('calendar dates: parseDate', () => {
  it('gives the numbers of a calendar date, and null for anything else', () => {
    expect(parseDate('2024-02-29')).toEqual({ year: 2024, month: 2, day: 29 });
    expect(parseDate('0007-12-31')).toEqual({ year: 7, month: 12, day: 31 });
    expect(parseDate('2023-02-29')).toBeNull();
    expect(parseDate('2023-06-31')).toBeNull();
    expect(parseDate('2023-6-30')).toBeNull();
    expect(parseDate('10000-01-01')).toBeNull();
  });

  it('accepts exactly the dates the Date-based reference produces', () => {
    fc.assert(
      fc.property(anyDay, (day) => {
        const d = refDate(day);
        expect(parseDate(d)).toEqual({ year: Number(d.slice(0, 4)), month: Number(d.slice(5, 7)), day: Number(d.slice(8, 10)) });
      }),
      { numRuns: 1000 },
    );
  });
});
