import { createTestServices } from '../test/support/services.ts';
import { seedOrg, bearer } from '../test/support/fixtures.ts';
import { applyIngest } from '../src/cases/ingest.ts';
import { eventInputSchema, caseInputSchema } from '../src/cases/schemas.ts';
import { sql } from 'kysely';
const t = await createTestServices();
const o = await seedOrg(t.services);
const s = t.services;
await applyIngest(s, { organizationId: o.organizationId, commands: Array.from({ length: 100 }, (_, c) => ({ op: 'upsert' as const, type: 'case' as const, externalId: `bench-case-${c}`, data: caseInputSchema.parse({ number: `N${c}`, title: 'T' }) })) });
const ev = (i: number) => eventInputSchema.parse({ caseExternalId: `bench-case-${i % 100}`, title: `Deposition of witness ${i}`, description: 'Videotaped deposition; court reporter booked; bring exhibits 1-14 and the accident reconstruction report.',
  location: 'Daley Center', participants: [{ name: 'Alice Hartmann', email: 'alice@hartmann-law.example', role: 'attorney' }, { name: 'Dana', email: 'dana@whitmore-pratt.example', role: 'opposing counsel' }],
  kind: 'deposition', start: '2027-03-01T14:00:00Z', end: '2027-03-01T17:00:00Z', timeZone: 'America/Chicago' });
// instrument via query logging
const orig = s.db;
for (let r = 0; r < 4; r++) {
  const cmds = Array.from({ length: 1000 }, (_, i) => ({ op: 'upsert' as const, type: 'event' as const, externalId: `r${r}-e-${i}`, data: ev(i) }));
  const t0 = performance.now();
  await applyIngest(s, { organizationId: o.organizationId, commands: cmds });
  const t1 = performance.now();
  console.log('applyIngest 1000', (t1 - t0).toFixed(0), 'ms');
}
// raw pieces
const ids = Array.from({ length: 1000 }, (_, i) => `r0-e-${i}`);
for (let r = 0; r < 3; r++) {
  let t0 = performance.now();
  await sql`SELECT id FROM case_events WHERE organization_id = ${o.organizationId} AND external_id IN (${sql.join(ids)})`.execute(s.db);
  console.log('select IN 1000', (performance.now() - t0).toFixed(0));
  t0 = performance.now();
  await sql`SELECT id FROM case_events WHERE organization_id = ${o.organizationId} AND external_id = ANY(${ids}::text[])`.execute(s.db);
  console.log('select ANY 1000', (performance.now() - t0).toFixed(0));
}
await t.cleanup();
