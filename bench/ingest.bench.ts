import { createApp } from '../src/api/app.ts';
import { createApiKey } from '../src/auth/api-keys.ts';
import { eventRow } from '../src/cases/rows.ts';
import { eventInputSchema } from '../src/cases/schemas.ts';
import type { Services } from '../src/services.ts';
import { createIsolatedServices } from '../test/support/services.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';

/**
 * Bulk ingest of 10,000 events (10 requests of 1,000, after their 100 cases exist) through the real
 * HTTP app — API key check, validation, one transaction per request with the content-compare upsert,
 * data_version bump and change-feed publish — against a baseline measured in the same run: a raw
 * multi-row INSERT of the same rows (already converted to columns) through the same driver.
 * ratio = subject items/s ÷ baseline items/s; the goal is at least 0.5.
 *
 * Runs on PGlite in memory, and on PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL is set
 * (in a throw-away schema). BENCH_ROUNDS (default 3) rounds alternate which side goes first; the
 * ratio is the median of the per-round ratios (each round's pair ran under the same machine load).
 */

const EVENTS = 10_000;
const BULK = 1_000;
const CASES = 100;
const ZONES = ['America/Chicago', 'America/New_York', 'America/Denver', 'America/Los_Angeles', 'Europe/Berlin', 'Europe/London'];

interface Target {
  label: string;
  pgUrl?: string;
}

/** The i-th sample event as the case-management app would send it. */
function eventData(i: number) {
  const day = String(1 + (i % 28)).padStart(2, '0');
  const base = {
    caseExternalId: `bench-case-${i % CASES}`,
    title: `Deposition of witness ${i}`,
    description: 'Videotaped deposition; court reporter booked; bring exhibits 1-14 and the accident reconstruction report.',
    location: 'Daley Center, 50 W Washington St, Chicago, conference room 4B',
    participants: [
      { name: 'Alice Hartmann', email: 'alice@hartmann-law.example', role: 'attorney' },
      { name: 'Dana Whitmore', email: 'dana@whitmore-pratt.example', role: 'opposing counsel' },
    ],
  };
  return i % 10 === 0
    ? { ...base, kind: 'deadline', allDay: true, startDate: `2027-03-${day}` }
    : {
        ...base,
        kind: 'deposition',
        start: `2027-03-${day}T14:00:00Z`,
        end: `2027-03-${day}T17:00:00Z`,
        timeZone: ZONES[i % ZONES.length],
      };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function withServices<T>(target: Target, body: (services: Services) => Promise<T>): Promise<T> {
  const { services, cleanup } = await createIsolatedServices({
    pgUrl: target.pgUrl,
    tag: 'bench',
    env: { NODE_ENV: 'test', LOG_LEVEL: 'silent', REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  });
  try {
    return await body(services);
  } finally {
    await cleanup();
  }
}

async function measure(target: Target, rounds: number): Promise<BenchResult> {
  return withServices(target, async (services) => {
    const app = createApp(services);
    const org = await services.db
      .insertInto('organizations')
      .values({ name: 'Bench Firm', settings: JSON.stringify({}) })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { apiKey } = await createApiKey(services.db, { organizationId: org.id, name: 'bench' });
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    const post = async (items: unknown[]) => {
      const res = await app.request('/v1/ingest/bulk', { method: 'POST', headers, body: JSON.stringify({ items }) });
      if (res.status !== 200) throw new Error(`bulk answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
    };
    const cases = Array.from({ length: CASES }, (_, c) => ({
      op: 'upsert',
      type: 'case',
      externalId: `bench-case-${c}`,
      data: { number: `PI-${c}`, title: `Bench case ${c}`, assignees: ['alice@hartmann-law.example'] },
    }));
    await post(cases);
    const caseIds = new Map(
      (await services.db.selectFrom('cases').select(['id', 'external_id']).where('organization_id', '=', org.id).execute()).map((r) => [r.external_id, r.id]),
    );

    // Request bodies and baseline rows are built before the clock starts: both sides time only their write path.
    const bodies = (tag: string) =>
      Array.from({ length: EVENTS / BULK }, (_, b) =>
        JSON.stringify({
          items: Array.from({ length: BULK }, (_, k) => {
            const i = b * BULK + k;
            return { op: 'upsert', type: 'event', externalId: `${tag}-${i}`, data: eventData(i) };
          }),
        }),
      );
    const baselineRows = (tag: string) =>
      Array.from({ length: EVENTS / BULK }, (_, b) =>
        Array.from({ length: BULK }, (_, k) => {
          const i = b * BULK + k;
          const data = eventInputSchema.parse(eventData(i));
          const row = eventRow(data, caseIds.get(data.caseExternalId)!);
          return { organization_id: org.id, external_id: `${tag}-${i}`, ...row } as never;
        }),
      );
    const runSubject = async (requestBodies: string[]) => {
      const started = performance.now();
      for (const body of requestBodies) {
        const res = await app.request('/v1/ingest/bulk', { method: 'POST', headers, body });
        if (res.status !== 200) throw new Error(`bulk answered ${res.status}`);
      }
      return EVENTS / ((performance.now() - started) / 1000);
    };
    const runBaseline = async (rowChunks: never[][]) => {
      const started = performance.now();
      for (const rows of rowChunks) await services.db.insertInto('case_events').values(rows).execute();
      return EVENTS / ((performance.now() - started) / 1000);
    };

    // Warm-up: JIT, statement paths, table and index pages.
    await runSubject(bodies('warm-s').slice(0, 2));
    await runBaseline(baselineRows('warm-b').slice(0, 2));

    const subject: number[] = [];
    const baseline: number[] = [];
    let lastBodies: string[] = [];
    for (let r = 0; r < rounds; r++) {
      const s = bodies(`s${r}`);
      const b = baselineRows(`b${r}`);
      if (r % 2 === 0) {
        baseline.push(await runBaseline(b));
        subject.push(await runSubject(s));
      } else {
        subject.push(await runSubject(s));
        baseline.push(await runBaseline(b));
      }
      lastBodies = s;
    }
    // The same 10,000 events again: the content comparison finds nothing to write.
    const unchanged = await runSubject(lastBodies);

    const subjectRate = median(subject);
    const baselineRate = median(baseline);
    // Paired: each round's two sides ran back to back under the same machine load.
    const ratio = median(subject.map((s, i) => s / baseline[i]!));
    return {
      name: `ingest: bulk 10k events (${target.label})`,
      unit: 'items/s',
      subject: subjectRate,
      baseline: baselineRate,
      ratio,
      ratioMeaning: 'median over rounds of (HTTP bulk ingest items/s ÷ raw multi-row INSERT items/s), same driver, same run',
      goal: '≥ 0.5',
      met: ratio >= 0.5,
      extra: {
        rounds,
        bulkSize: BULK,
        subjectRounds: subject.map(Math.round),
        baselineRounds: baseline.map(Math.round),
        roundRatios: subject.map((s, i) => Number((s / baseline[i]!).toFixed(3))),
        resendUnchangedItemsPerSec: Math.round(unchanged),
      },
    };
  });
}

export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  async run() {
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
    const targets: Target[] = [{ label: 'PGlite in memory' }];
    const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    if (pgUrl) targets.push({ label: 'PostgreSQL', pgUrl });
    const results: BenchResult[] = [];
    for (const target of targets) {
      process.stderr.write(`  ${target.label}…\n`);
      results.push(await measure(target, rounds));
    }
    return results;
  },
};
