import { describe, expect, it } from 'vitest';
import { addDays } from '../../src/cases/calendar-date.ts';
import { caseInputSchema, contactInputSchema, documentMetadataSchema, eventInputSchema } from '../../src/cases/schemas.ts';
import { minimalPdf } from '../../src/demo/pdf.ts';
import { buildDemoDataset, type DemoOrganization } from '../../src/demo/sample-data.ts';
import { mondayOf, zonedTimeToUtc } from '../../src/demo/zoned-time.ts';

describe('demo sample data', () => {
  const orgs = buildDemoDataset({ anchor: '2025-03-03' });
  const all = <K extends 'users' | 'cases' | 'events' | 'documents' | 'contacts'>(k: K): DemoOrganization[K] =>
    orgs.flatMap((o) => o[k] as unknown[]) as DemoOrganization[K];

  it('has two firms, a dozen users, 20 cases, 40 documents and 100 contacts', () => {
    expect(orgs.map((o) => o.name)).toEqual(['Hartmann & Keller Personal Injury', 'Brennan Injury Law']);
    expect(all('users')).toHaveLength(12);
    expect(all('cases')).toHaveLength(20);
    expect(all('documents')).toHaveLength(40);
    expect(all('contacts')).toHaveLength(100);
  });

  it('includes the sandbox accounts alice and bob at hartmann-law.example', () => {
    const emails = orgs[0]!.users.map((u) => u.email);
    expect(emails).toContain('alice@hartmann-law.example');
    expect(emails).toContain('bob@hartmann-law.example');
    expect(orgs[0]!.settings.allowedGoogleDomains).toEqual(['hartmann-law.example']);
  });

  it('is the same for the same anchor (so seeding twice changes nothing)', () => {
    expect(buildDemoDataset({ anchor: '2025-03-03' })).toEqual(orgs);
  });

  it('passes the ingest API validation, record by record', () => {
    for (const c of all('cases')) expect(caseInputSchema.safeParse(c.data).success).toBe(true);
    for (const e of all('events')) expect(eventInputSchema.safeParse(e.data).error).toBeUndefined();
    for (const d of all('documents')) expect(documentMetadataSchema.safeParse(d.metadata).success).toBe(true);
    for (const k of all('contacts')) expect(contactInputSchema.safeParse(k.data).error).toBeUndefined();
  });

  it('gives every case an all-day limitation deadline and a court date, with events across several zones', () => {
    for (const c of all('cases')) {
      const events = all('events').filter((e) => e.data.caseExternalId === c.externalId);
      expect(events.some((e) => e.data.kind === 'deadline' && e.data.allDay === true)).toBe(true);
      expect(events.some((e) => e.data.kind === 'court_date')).toBe(true);
      expect(events.some((e) => e.data.kind === 'deposition')).toBe(true);
    }
    const zones = new Set(
      all('events')
        .map((e) => e.data.timeZone)
        .filter(Boolean),
    );
    expect(zones.size).toBeGreaterThanOrEqual(5);
  });

  it('uses unique external ids per type', () => {
    for (const k of ['cases', 'events', 'documents', 'contacts'] as const) {
      const ids = all(k).map((r) => r.externalId);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });
});

describe('zoned time', () => {
  it('converts wall-clock times to instants on both sides of a daylight-saving change', () => {
    // Chicago moved to CDT (UTC-5) on 2025-03-09.
    expect(zonedTimeToUtc({ date: '2025-03-07', time: '09:30', timeZone: 'America/Chicago' }).toISOString()).toBe('2025-03-07T15:30:00.000Z');
    expect(zonedTimeToUtc({ date: '2025-03-10', time: '09:30', timeZone: 'America/Chicago' }).toISOString()).toBe('2025-03-10T14:30:00.000Z');
    expect(zonedTimeToUtc({ date: '2025-07-01', time: '16:00', timeZone: 'Europe/Berlin' }).toISOString()).toBe('2025-07-01T14:00:00.000Z');
    expect(zonedTimeToUtc({ date: '2025-07-01', time: '16:00', timeZone: 'America/Phoenix' }).toISOString()).toBe('2025-07-01T23:00:00.000Z');
  });

  it('adds days across month ends and finds the Monday of a week', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2025-01-01', -1)).toBe('2024-12-31');
    expect(mondayOf(new Date('2025-03-09T23:00:00Z'))).toBe('2025-03-03'); // a Sunday
    expect(mondayOf(new Date('2025-03-03T00:00:00Z'))).toBe('2025-03-03');
  });
});

describe('sample PDF', () => {
  it('is a PDF whose cross-reference table points at its objects', () => {
    const bytes = Buffer.from(minimalPdf({ title: 'Complaint (draft)', lines: ['Line one'] }));
    const text = bytes.toString('latin1');
    expect(text.startsWith('%PDF-1.4')).toBe(true);
    expect(text.trimEnd().endsWith('%%EOF')).toBe(true);
    const xrefAt = Number(/startxref\n(\d+)/.exec(text)![1]);
    expect(text.slice(xrefAt, xrefAt + 4)).toBe('xref');
    const offsets = [...text.slice(xrefAt).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    offsets.forEach((o, i) => {
      expect(text.slice(o, o + `${i + 1} 0 obj`.length)).toBe(`${i + 1} 0 obj`);
    });
  });
});
