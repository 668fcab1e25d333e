import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import autocannon from 'autocannon';
import { Hono } from 'hono';
import ical from 'ical-generator';
import { projectFeed } from '../connectors/ical/project.ts';
import { renderFeed } from '../connectors/ical/render.ts';
import { createApp } from '../src/api/app.ts';
import { createApiKey } from '../src/auth/api-keys.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import { type EventWithCase, loadEventsInScope } from '../src/cases/queries.ts';
import { allowedFields, type CategoryId } from '../src/consent/categories.ts';
import type { Services } from '../src/services.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { benchServices } from './gate.bench.ts';
import { profileIfAsked } from './work-counters.ts';

/**
 * iCal feed benchmarks, on a 5,000-event feed (timed events in eight zones, all-day events,
 * descriptions and participants, feed consented with details):
 * 1. full render (projection + the gate's minimisation + render + ETag) against ical-generator
 *    rendering the same events directly (UTC, no projection) — goal ≤ 1.3×;
 * 2. the 304 path (If-None-Match, warm cache) through the whole app, against a cached 200;
 * 3. requests/s of an unchanged feed under concurrent load (autocannon, worker thread) against a bare
 *    Hono route answering the same bytes — goal ≥ 0.5 for plain GETs (200), ≥ 0.2 for conditional GETs
 *    (304, each still logged as a `not_modified` row).
 * BENCH_CPU_PROFILE=file.cpuprofile profiles the app during the 304 load.
 * PGlite in memory by default; BENCH_DATABASE_URL=postgres://… uses PostgreSQL (a fresh schema).
 */

const EVENTS = 5000;
const CASES = 50;
const ZONES = ['Europe/Berlin', 'America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Europe/London', 'Asia/Tokyo', 'Australia/Sydney', 'UTC'];
const LOAD_SECONDS = Number(process.env.BENCH_ICAL_SECONDS ?? 5);
/**
 * Concurrent connections of the load (BENCH_ICAL_CONNECTIONS, default 8). With 8, each connection waits
 * for its 304's row to commit before its next request, so the logged 304s measure that wait more than
 * what the process can serve; more connections show the capacity (see BENCHMARKS.md, 2026-12-06).
 */
const CONNECTIONS = Number(process.env.BENCH_ICAL_CONNECTIONS ?? 8);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Services for the feed benchmarks: the shared bench set-up, with no rate limit and bulks of a whole feed. */
export function setup(): Promise<{ services: Services; cleanup: () => Promise<void> }> {
  return benchServices({ ICAL_RATE_LIMIT_PER_MINUTE: String(1e9), BULK_MAX_ITEMS: String(EVENTS) });
}

/** Seeds an organization, a member and 5,000 events through the ingest API; returns the feed URL path. */
export async function seedFeed(services: Services, app: ReturnType<typeof createApp>): Promise<{ path: string; organizationId: string; email: string }> {
  const org = await services.db
    .insertInto('organizations')
    .values({ name: 'Bench Firm', settings: JSON.stringify({}) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const { apiKey } = await createApiKey(services.db, { organizationId: org.id, name: 'bench' });
  const user = await services.db
    .insertInto('users')
    .values({ organization_id: org.id, email: 'lawyer@bench.example', name: 'Lawyer', role: 'member', picture_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const ingest = async (items: unknown[]) => {
    const res = await app.request('/v1/ingest/bulk', {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
    });
    if (res.status !== 200) throw new Error(`ingest failed: ${res.status} ${await res.text()}`);
  };
  await ingest(
    Array.from({ length: CASES }, (_, i) => ({
      op: 'upsert',
      type: 'case',
      externalId: `case-${i}`,
      data: { number: `PI-2026-${String(i).padStart(4, '0')}`, title: `Miller v. Eastside ${i}`, assignees: ['lawyer@bench.example'] },
    })),
  );
  const base = Date.UTC(2026, 0, 5, 8, 0);
  await ingest(
    Array.from({ length: EVENTS }, (_, i) => {
      const allDay = i % 10 < 3;
      const day = new Date(base + (i % 700) * 86_400_000);
      const common = {
        caseExternalId: `case-${i % CASES}`,
        kind: allDay ? 'deadline' : 'court_date',
        title: `Hearing ${i}: motion to compel, exhibits A–F; room ${i % 40}`,
        description: `Prepare the witness outline for hearing ${i}.\nBring the signed affidavits, the exhibit binder and two copies of the brief.`,
        location: `County Court, Room ${i % 40}, 100 Main Street, Springfield`,
        participants: [{ name: `Witness ${i}` }, { name: 'Opposing Counsel' }],
      };
      return {
        op: 'upsert',
        type: 'event',
        externalId: `event-${i}`,
        data: allDay
          ? { ...common, allDay: true, startDate: day.toISOString().slice(0, 10), endDate: day.toISOString().slice(0, 10) }
          : {
              ...common,
              start: new Date(day.getTime() + (i % 9) * 3_600_000).toISOString(),
              end: new Date(day.getTime() + (i % 9) * 3_600_000 + 5_400_000).toISOString(),
              timeZone: ZONES[i % ZONES.length],
            },
      };
    }),
  );
  const { id: sessionId, session } = await services.sessions.create({ userId: user.id, organizationId: org.id, role: 'member', method: 'test' });
  const res = await app.request('/v1/ical-feeds', {
    method: 'POST',
    headers: { cookie: `${SESSION_COOKIE}=${sessionId}`, [CSRF_HEADER]: session.csrfToken, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Bench', categories: ['calendar.events', 'calendar.events.details'], caseScope: { kind: 'all' } }),
  });
  if (res.status !== 201) throw new Error(`feed creation failed: ${res.status} ${await res.text()}`);
  return { path: new URL(((await res.json()) as { url: string }).url).pathname, organizationId: org.id, email: 'lawyer@bench.example' };
}

/** ical-generator used directly on the same events: the baseline of the render benchmark. */
function renderDirect(events: EventWithCase[]): string {
  const cal = ical({ name: 'Bench', ttl: 3600 });
  for (const e of events) {
    const allDay = e.startsAt === null;
    cal.createEvent({
      id: `${e.id}@casebridge`,
      sequence: e.version,
      stamp: e.updatedAt,
      allDay,
      start: allDay ? new Date(`${e.startDate}T00:00:00Z`) : e.startsAt!,
      end: allDay ? new Date(Date.parse(`${e.endDate ?? e.startDate}T00:00:00Z`) + 86_400_000) : e.endsAt,
      summary: `[${e.caseNumber}] ${e.title}`,
      location: e.location,
      description: `${e.description ?? ''}\n\nParticipants: ${e.participants.map((p) => p.name).join(', ')}`,
      categories: [{ name: e.caseNumber }],
    });
  }
  return cal.toString();
}

/** Our full render: projection, the gate's minimisation rule, render, ETag. */
function renderOurs(events: EventWithCase[], categories: CategoryId[]): number {
  const projection = projectFeed({ feedId: 'bench', events });
  const allowed = allowedFields(categories);
  const minimised = Object.fromEntries(Object.entries(projection.item.fields).filter(([k]) => allowed.has(k)));
  return renderFeed({ options: { name: 'Bench', refreshSeconds: 3600 }, minimised, envelope: projection.envelope }).body.byteLength;
}

async function load(url: string, headers: Record<string, string>): Promise<{ rps: number; errors: number; non2xx: number }> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: LOAD_SECONDS, headers, workers: 1 });
  return { rps: result.requests.average, errors: result.errors + result.timeouts, non2xx: result.non2xx };
}

function listen(fetch: (req: Request) => Response | Promise<Response>): Promise<{ url: string; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      resolve({ url: `http://127.0.0.1:${info.port}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

export const icalBenchmark: Benchmark = {
  name: 'ical-feed',
  async run(): Promise<BenchResult[]> {
    const { services, cleanup } = await setup();
    const results: BenchResult[] = [];
    try {
      const app = createApp(services);
      const feed = await seedFeed(services, app);
      const events = await loadEventsInScope(services.db, { organizationId: feed.organizationId, userEmail: feed.email, caseScope: { kind: 'all' } });
      if (events.length !== EVENTS) throw new Error(`expected ${EVENTS} events, got ${events.length}`);

      // 1. Render, interleaved so both sides see the same machine state.
      const categories: CategoryId[] = ['calendar.events', 'calendar.events.details'];
      renderOurs(events, categories);
      renderDirect(events);
      const ours: number[] = [];
      const direct: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 5; i++) {
        let t = performance.now();
        bytes = renderOurs(events, categories);
        ours.push(performance.now() - t);
        t = performance.now();
        renderDirect(events);
        direct.push(performance.now() - t);
      }
      const renderRatio = median(ours) / median(direct);
      results.push({
        name: 'ical: render 5,000-event feed',
        unit: 'ms',
        subject: median(ours),
        baseline: median(direct),
        ratio: renderRatio,
        ratioMeaning: 'ours / ical-generator direct (lower is better)',
        goal: '≤ 1.3',
        met: renderRatio <= 1.3,
        extra: { bytes, events: EVENTS },
      });

      // 2. The 304 path and a cached 200, in-process through the whole app (gate + log row included).
      const t0 = performance.now();
      const first = await app.request(feed.path);
      const etag = first.headers.get('etag')!;
      await first.arrayBuffer();
      const firstFetchMs = performance.now() - t0;
      const time = async (headers: Record<string, string>, expected: number, n: number) => {
        const xs: number[] = [];
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          const res = await app.request(feed.path, { headers });
          await res.arrayBuffer();
          xs.push(performance.now() - t);
          if (res.status !== expected) throw new Error(`expected ${expected}, got ${res.status}`);
        }
        return median(xs);
      };
      await time({ 'if-none-match': etag }, 304, 20);
      const notModifiedMs = await time({ 'if-none-match': etag }, 304, 100);
      const cached200Ms = await time({}, 200, 30);
      results.push({
        name: 'ical: 304 path (warm cache)',
        unit: 'ms/request',
        subject: notModifiedMs,
        baseline: cached200Ms,
        ratio: notModifiedMs / cached200Ms,
        ratioMeaning: '304 / cached 200 of the same feed (both through gate and log)',
        extra: { firstFetchMs, note: 'firstFetchMs: cold cache (load + project + render + gate + log)' },
      });

      // 3. Load: the app on a port vs a bare Hono route with the same bytes.
      const body = Buffer.from(await (await app.request(feed.path)).arrayBuffer());
      const bare = new Hono();
      bare.get('/feed.ics', (c) => {
        if (c.req.header('if-none-match') === etag) return c.body(null, 304, { etag });
        return c.body(body, 200, { 'content-type': 'text/calendar; charset=utf-8', etag, 'cache-control': 'private, max-age=300' });
      });
      const ourServer = await listen(app.fetch);
      const bareServer = await listen(bare.fetch);
      try {
        for (const [label, headers] of [
          ['200 (no If-None-Match)', {}],
          ['304 (If-None-Match)', { 'if-none-match': etag }],
        ] as const) {
          const baseline = await load(`${bareServer.url}/feed.ics`, headers);
          // BENCH_CPU_PROFILE=file.cpuprofile: a profile of this process (the app; the load runs in a worker) during the 304s.
          const profile = label.startsWith('304') ? await profileIfAsked() : { stop: async () => undefined };
          const subject = await load(`${ourServer.url}${feed.path}`, headers);
          await profile.stop();
          const ratio = subject.rps / baseline.rps;
          // 200: the feed with its bytes, ≥ 0.5. 304: each logged answer is one transfer-log row, written
          // by the log writer's group commit (the rows of concurrent requests share a statement), ≥ 0.2.
          const goal = label.startsWith('200') ? 0.5 : 0.2;
          results.push({
            name: `ical: unchanged feed under load, ${label}`,
            unit: 'requests/s',
            subject: subject.rps,
            baseline: baseline.rps,
            ratio,
            ratioMeaning: 'app / bare Hono route with the same bytes (higher is better)',
            goal: `≥ ${goal}`,
            met: ratio >= goal,
            extra: { connections: CONNECTIONS, seconds: LOAD_SECONDS, bodyBytes: body.length, errors: subject.errors, non2xx: subject.non2xx },
          });
        }
      } finally {
        await ourServer.close();
        await bareServer.close();
      }
    } finally {
      await cleanup();
    }
    return results;
  },
};
