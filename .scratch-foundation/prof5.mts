import { z } from 'zod';
import { eventInputSchema, participantSchema, contactInputSchema, caseInputSchema } from '../src/cases/schemas.ts';
const d = { caseExternalId: `bench-case-1`, title: `Deposition of witness 1`, description: 'Videotaped deposition; court reporter booked; bring exhibits 1-14 and the accident reconstruction report.',
  location: 'Daley Center', participants: [{ name: 'Alice Hartmann', email: 'alice@hartmann-law.example', role: 'attorney' }, { name: 'Dana', email: 'dana@whitmore-pratt.example', role: 'opposing counsel' }],
  kind: 'deposition', start: '2027-03-01T14:00:00Z', end: '2027-03-01T17:00:00Z', timeZone: 'America/Chicago' };
const N = 20000;
function time(label: string, f: () => void) { for (let i = 0; i < 2000; i++) f(); const t = performance.now(); for (let i = 0; i < N; i++) f(); console.log(label.padEnd(20), ((performance.now() - t) / N * 1000).toFixed(2), 'µs'); }
const parr = z.array(participantSchema);
const email = z.email();
const noP = { ...d, participants: [] };
for (let k = 0; k < 2; k++) {
time('full', () => eventInputSchema.parse(d));
time('full no participants', () => eventInputSchema.parse(noP));
time('participants x2', () => parr.parse(d.participants));
time('email', () => email.parse('alice@hartmann-law.example'));
time('case', () => caseInputSchema.parse({ number: 'N', title: 'T', assignees: ['a@b.example'] }));
}
