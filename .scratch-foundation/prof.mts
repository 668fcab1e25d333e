import { eventInputSchema, bulkItemSchema } from '../src/cases/schemas.ts';
import { z } from 'zod';
const items = Array.from({ length: 1000 }, (_, i) => ({ op: 'upsert', type: 'event', externalId: `e-${i}`, data: {
  caseExternalId: `bench-case-${i % 100}`, title: `Deposition of witness ${i}`, description: 'Videotaped deposition; court reporter booked; bring exhibits 1-14 and the accident reconstruction report.',
  location: 'Daley Center', participants: [{ name: 'Alice Hartmann', email: 'alice@hartmann-law.example', role: 'attorney' }, { name: 'Dana', email: 'dana@whitmore-pratt.example', role: 'opposing counsel' }],
  kind: 'deposition', start: '2027-03-01T14:00:00Z', end: '2027-03-01T17:00:00Z', timeZone: 'America/Chicago' } }));
const body = JSON.stringify({ items });
const env = z.object({ items: z.array(bulkItemSchema).max(5000) });
for (let r = 0; r < 5; r++) {
  let t = performance.now(); const parsed = JSON.parse(body); const p1 = performance.now() - t;
  t = performance.now(); env.parse(parsed); const p2 = performance.now() - t;
  t = performance.now(); for (const it of parsed.items) eventInputSchema.parse(it.data); const p3 = performance.now() - t;
  console.log({ json: p1.toFixed(1), envelope: p2.toFixed(1), data: p3.toFixed(1) });
}
