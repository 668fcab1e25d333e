import { createTestServices } from '../test/support/services.ts';
import { seedOrg } from '../test/support/fixtures.ts';
import { applyIngest } from '../src/cases/ingest.ts';
import { eventInputSchema, caseInputSchema } from '../src/cases/schemas.ts';
import { eventRow, TABLE_SPECS } from '../src/cases/rows.ts';
import { sql } from 'kysely';
const t = await createTestServices(process.env.PGURL ? {} : {});
const o = await seedOrg(t.services);
const s = t.services;
await applyIngest(s, { organizationId: o.organizationId, commands: Array.from({ length: 100 }, (_, c) => ({ op: 'upsert' as const, type: 'case' as const, externalId: `bench-case-${c}`, data: caseInputSchema.parse({ number: `N${c}`, title: 'T' }) })) });
const caseIds = new Map((await s.db.selectFrom('cases').select(['id','external_id']).execute()).map(r => [r.external_id, r.id]));
const ev = (i: number) => eventInputSchema.parse({ caseExternalId: `bench-case-${i % 100}`, title: `Deposition of witness ${i}`, description: 'Videotaped deposition; court reporter booked; bring exhibits 1-14 and the accident reconstruction report.',
  location: 'Daley Center', participants: [{ name: 'Alice Hartmann', email: 'alice@hartmann-law.example', role: 'attorney' }, { name: 'Dana', email: 'dana@whitmore-pratt.example', role: 'opposing counsel' }],
  kind: 'deposition', start: '2027-03-01T14:00:00Z', end: '2027-03-01T17:00:00Z', timeZone: 'America/Chicago' });
const data = Array.from({ length: 1000 }, (_, i) => ev(i));
const cols = TABLE_SPECS.event.contentColumns;
const res: Record<string, number[]> = { raw: [], upsertOnly: [], preselectUpsert: [], apply: [] };
for (let r = 0; r < 6; r++) {
  const rows = (tag: string) => data.map((d, i) => ({ organization_id: o.organizationId, external_id: `${tag}-${r}-${i}`, ...eventRow(d, caseIds.get(d.caseExternalId)!) }));
  let t0 = performance.now();
  await s.db.insertInto('case_events').values(rows('raw') as never).execute();
  res.raw.push(performance.now() - t0);
  const up = rows('up');
  t0 = performance.now();
  const table = sql.table('case_events');
  await s.db.transaction().execute(async (tx) => {
    await sql`INSERT INTO case_events (organization_id, external_id, ${sql.join(cols.map((c) => sql.ref(c)))}) VALUES ${sql.join(up.map((u) => sql`(${sql.join([u.organization_id, u.external_id, ...cols.map((c) => (u as any)[c])])})`))}
      ON CONFLICT (organization_id, external_id) DO UPDATE SET ${sql.join(cols.map((c) => sql`${sql.ref(c)} = ${sql.ref(`excluded.${c}`)}`))}, version = case_events.version + 1
      WHERE (${sql.join(cols.map((c) => sql`${table}.${sql.ref(c)}`))}) IS DISTINCT FROM (${sql.join(cols.map((c) => sql.ref(`excluded.${c}`)))})
      RETURNING id, external_id, version, case_id`.execute(tx);
  });
  res.upsertOnly.push(performance.now() - t0);
  t0 = performance.now();
  await applyIngest(s, { organizationId: o.organizationId, commands: data.map((d, i) => ({ op: 'upsert' as const, type: 'event' as const, externalId: `ap-${r}-${i}`, data: d })) });
  res.apply.push(performance.now() - t0);
}
for (const [k, v] of Object.entries(res)) console.log(k, v.map((x) => x.toFixed(0)).join(' '));
await t.cleanup();
