import { describe, expect, it } from 'vitest';
import { findDuplicates } from '../../src/cases/ingest.ts';
import { caseRow, contactRow, documentRow, eventRow, guessMimeType, TABLE_SPECS } from '../../src/cases/rows.ts';
import { caseInputSchema, contactInputSchema, documentMetadataSchema, eventInputSchema } from '../../src/cases/schemas.ts';

describe('rows from ingest data', () => {
  it('fills every content column of each table, and nothing else', () => {
    const rows = {
      case: caseRow(caseInputSchema.parse({ number: 'N', title: 'T' })),
      event: eventRow(eventInputSchema.parse({ caseExternalId: 'c', kind: 'deadline', title: 'D', allDay: true, startDate: '2025-01-02' }), 'case-id'),
      document: documentRow(
        documentMetadataSchema.parse({ caseExternalId: 'c', title: 'T', fileName: 'a.pdf' }),
        { sha256: 'ab', size: 2, mimeType: 'application/pdf' },
        'case-id',
      ),
      contact: contactRow(contactInputSchema.parse({ name: 'N' }), null),
    };
    for (const [type, row] of Object.entries(rows)) {
      expect(Object.keys(row).sort()).toEqual([...TABLE_SPECS[type as keyof typeof TABLE_SPECS].contentColumns].sort());
    }
  });

  it('stores a timed event as instants plus its zone, and an all-day event as dates', () => {
    const timed = eventRow(
      eventInputSchema.parse({
        caseExternalId: 'c',
        kind: 'meeting',
        title: 'M',
        start: '2025-07-01T09:00:00+02:00',
        end: '2025-07-01T10:00:00+02:00',
        timeZone: 'Europe/Berlin',
        participants: [{ name: 'Ann', email: 'ANN@x.example' }],
      }),
      'case-id',
    );
    expect(timed).toMatchObject({
      starts_at: '2025-07-01T07:00:00.000Z',
      ends_at: '2025-07-01T08:00:00.000Z',
      time_zone: 'Europe/Berlin',
      start_date: null,
      end_date: null,
    });
    expect(JSON.parse(timed.participants as string)).toEqual([{ name: 'Ann', email: 'ann@x.example' }]);
    const allDay = eventRow(
      eventInputSchema.parse({ caseExternalId: 'c', kind: 'deadline', title: 'D', allDay: true, startDate: '2025-01-02', endDate: '2025-01-03' }),
      'x',
    );
    expect(allDay).toMatchObject({ starts_at: null, ends_at: null, start_date: '2025-01-02', end_date: '2025-01-03' });
  });

  it('prefers the MIME type the metadata names, then the stored one', () => {
    const meta = documentMetadataSchema.parse({ caseExternalId: 'c', title: 'T', fileName: 'scan.bin', mimeType: 'Application/PDF' });
    expect(documentRow(meta, { sha256: 'ab', size: 1, mimeType: 'application/octet-stream' }, 'c').mime_type).toBe('application/pdf');
    expect(guessMimeType('Complaint.PDF')).toBe('application/pdf');
    expect(guessMimeType('notes')).toBe('application/octet-stream');
  });
});

describe('duplicate records in one request', () => {
  it('names every repeat with the index of its first occurrence', () => {
    const problems = findDuplicates([
      { type: 'case', externalId: 'a' },
      { type: 'event', externalId: 'a' },
      { type: 'case', externalId: 'a' },
    ]);
    expect(problems).toEqual([{ index: 2, externalId: 'a', message: expect.stringContaining('index 0') }]);
  });
});
