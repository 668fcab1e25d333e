import { z } from 'zod';
import { eventInputSchema, participantSchema, canonicalTimeZone } from '../src/cases/schemas.ts';
const d = { caseExternalId: `bench-case-1`, title: `Deposition of witness 1`, description: 'Videotaped deposition; court reporter booked; bring exhibits 1-14 and the accident reconstruction report.',
  location: 'Daley Center', participants: [{ name: 'Alice Hartmann', email: 'alice@hartmann-law.example', role: 'attorney' }, { name: 'Dana', email: 'dana@whitmore-pratt.example', role: 'opposing counsel' }],
  kind: 'deposition', start: '2027-03-01T14:00:00Z', end: '2027-03-01T17:00:00Z', timeZone: 'America/Chicago' };
const N = 5000;
function time(label: string, f: () => void) { for (let i = 0; i < 500; i++) f(); const t = performance.now(); for (let i = 0; i < N; i++) f(); console.log(label, ((performance.now() - t) / N * 1000).toFixed(1), 'µs'); }
time('full', () => eventInputSchema.parse(d));
time('participants x2', () => z.array(participantSchema).parse(d.participants));
time('email', () => z.email().parse('alice@hartmann-law.example'));
const dt = z.iso.datetime({ offset: true });
time('datetime', () => dt.parse('2027-03-01T14:00:00Z'));
time('tz', () => canonicalTimeZone('America/Chicago'));
const ext = z.string().min(1).max(200).regex(/^[A-Za-z0-9._:@~+=-]+$/);
time('extid', () => ext.parse('bench-case-1'));
const t = z.string().trim().min(1).max(500);
time('text', () => t.parse('Deposition of witness 1'));
const ot = z.string().trim().max(500).nullish().transform((v) => (v ? v : null));
time('optText', () => ot.parse('Daley'));
