import { sql } from 'kysely';
import { createApp } from '../src/api/app.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { benchServices } from './gate.bench.ts';

/**
 * Server time of the pages at scale: an organization with 1,000 connections (100 users) and
 * 1,000,000 transfer-log rows (`BENCH_PAGE_ROWS`), the pages rendered through the app in-process
 * (`app.request`, so the time is the server's: session, queries, rendering). Measured: the
 * connected-apps page and the shared-data page of a member with 10 connections and ~10,000 rows
 * (first page, filtered by platform and dates, an older page by keyset cursor), the admin
 * connections page, the admin transfer-log search (organization-wide and one user's sent rows) and
 * the member's own access report. Baseline: `GET /v1/me` (session + one
 * query, JSON) in the same run. Goal: p95 ≤ 50 ms per page.
 */

const ROWS = Number(process.env.BENCH_PAGE_ROWS ?? 1_000_000);
const CONNECTIONS = 1000;
const USERS = 100;
const REQUESTS = Number(process.env.BENCH_PAGE_REQUESTS ?? 100);

function p95(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!;
}

export const pagesBenchmark: Benchmark = {
  name: 'pages',
  async run(): Promise<BenchResult[]> {
    const { services, cleanup } = await benchServices();
    try {
      const { db } = services;
      const app = createApp(services);
      const org = await db
        .insertInto('organizations')
        .values({ name: 'Bench Firm', settings: JSON.stringify({}) })
        .returning('id')
        .executeTakeFirstOrThrow();
      const users = await db
        .insertInto('users')
        .values(
          Array.from({ length: USERS }, (_, i) => ({
            organization_id: org.id,
            email: `user${i}@bench.example`,
            name: `User ${i}`,
            role: i === 0 ? ('admin' as const) : ('member' as const),
            picture_url: null,
          })),
        )
        .returning('id')
        .execute();
      const connections = await db
        .insertInto('connections')
        .values(
          Array.from({ length: CONNECTIONS }, (_, i) => ({
            organization_id: org.id,
            user_id: users[i % USERS]!.id,
            platform: 'google_calendar',
            status: 'active' as const,
            external_account: `user${i % USERS}+${i}@gmail.example`,
            settings: JSON.stringify({ calendarId: `cal-${i}`, calendarCreatedByCasebridge: true, calendarName: 'Cases' }),
            last_error: JSON.stringify(null),
            sync_progress: JSON.stringify(null),
            last_sync_at: new Date(),
          })),
        )
        .returning(['id', 'user_id'])
        .execute();
      await db
        .insertInto('consents')
        .values(
          connections.map((c) => ({
            connection_id: c.id,
            organization_id: org.id,
            version: 1,
            granted_by: c.user_id,
            categories: JSON.stringify(['calendar.events']),
            case_scope: JSON.stringify({ kind: 'all' }),
            policy_version: '2026-11-01',
            method: 'consent_screen' as const,
            attestations: JSON.stringify({}),
          })),
        )
        .execute();
      // The rows in one statement: every connection's transfers interleaved, newest last.
      const started = Date.now();
      await sql`
        INSERT INTO transfer_log (id, organization_id, seq, direction, user_id, connection_id, platform, recipient_account,
          recipient_destination, subjects, categories, field_names, purpose, consent_version, payload_sha256, payload_bytes,
          actor, operation, item_key, outcome, provider_status, created_at, prev_hash, hash)
        SELECT gen_random_uuid(), ${org.id}::uuid, g, 'outbound', c.user_id, c.id, 'google_calendar', c.external_account,
          'cal', jsonb_build_object('caseIds', jsonb_build_array(${org.id}::text)), '["calendar.events"]'::jsonb,
          '["title","start","end","allDay","caseNumber"]'::jsonb, 'calendar_sync', 1, md5(g::text), 200,
          '{"kind":"job"}'::jsonb, 'create', 'event:' || g, CASE WHEN g % 2 = 0 THEN 'sent' ELSE 'intent' END, 200,
          now() - make_interval(secs => ${ROWS}::int - g), md5((g - 1)::text), md5(g::text)
        FROM generate_series(1, ${ROWS}::int) AS g
        JOIN (SELECT id, user_id, external_account, (row_number() OVER (ORDER BY id)) - 1 AS k FROM connections WHERE organization_id = ${org.id}::uuid) c
          ON c.k = g % ${CONNECTIONS}::int
      `.execute(db);
      await sql`ANALYZE transfer_log`.execute(db).catch(() => undefined);
      const seededMs = Date.now() - started;

      // The organization's iManage Work connection (the admin's), and 20 webhook endpoints, the first
      // with a delivery log of 10,000 deliveries (the page shows 50, newest first).
      const imanage = await db
        .insertInto('connections')
        .values({
          organization_id: org.id,
          user_id: users[0]!.id,
          platform: 'imanage',
          status: 'active',
          external_account: null,
          settings: JSON.stringify({ host: 'https://dms.bench.example', libraryId: 'ACTIVE', libraries: ['ACTIVE', 'ARCHIVE'], deletePolicy: 'leave' }),
          last_error: JSON.stringify(null),
          sync_progress: JSON.stringify(null),
          last_sync_at: new Date(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db
        .insertInto('consents')
        .values({
          connection_id: imanage.id,
          organization_id: org.id,
          version: 1,
          granted_by: users[0]!.id,
          categories: JSON.stringify(['documents.files']),
          case_scope: JSON.stringify({ kind: 'practice_areas', practiceAreas: ['Litigation'] }),
          policy_version: '2026-11-01',
          method: 'consent_screen' as const,
          attestations: JSON.stringify({}),
        })
        .execute();
      const endpoints = await db
        .insertInto('webhook_endpoints')
        .values(
          Array.from({ length: 20 }, (_, i) => ({
            organization_id: org.id,
            url: `https://hooks.bench.example/${i}`,
            description: `endpoint ${i}`,
            event_types: JSON.stringify(null),
            created_by: users[0]!.id,
          })),
        )
        .returning('id')
        .execute();
      await sql`
        WITH ev AS (
          INSERT INTO webhook_events (organization_id, type, data, created_at)
          SELECT ${org.id}::uuid, 'sync.failed', jsonb_build_object('connectionId', gen_random_uuid(), 'platform', 'google_calendar', 'code', 'x'),
            now() - make_interval(secs => 10000 - g)
          FROM generate_series(1, 10000) AS g
          RETURNING id, created_at
        )
        INSERT INTO webhook_deliveries (organization_id, endpoint_id, event_id, status, attempt_count, last_status_code, delivered_at, created_at)
        SELECT ${org.id}::uuid, ${endpoints[0]!.id}::uuid, ev.id, 'delivered', 1, 200, ev.created_at, ev.created_at FROM ev
      `.execute(db);
      await sql`ANALYZE webhook_events, webhook_deliveries`.execute(db).catch(() => undefined);
      const signIn = async (userId: string, role: 'admin' | 'member') => {
        const { id, session } = await services.sessions.create({ userId, organizationId: org.id, role, method: 'test' });
        return { cookie: `${SESSION_COOKIE}=${id}`, [CSRF_HEADER]: session.csrfToken, accept: 'text/html' };
      };
      const member = await signIn(users[1]!.id, 'member');
      const admin = await signIn(users[0]!.id, 'admin');
      const time = async (path: string, headers: Record<string, string>) => {
        for (let i = 0; i < 5; i++) await (await app.request(path, { headers })).arrayBuffer();
        const samples: number[] = [];
        for (let i = 0; i < REQUESTS; i++) {
          const t0 = performance.now();
          const res = await app.request(path, { headers });
          await res.arrayBuffer();
          samples.push(performance.now() - t0);
          if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
        }
        return p95(samples);
      };
      const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
      const cursorAt = (seq: number) => Buffer.from(`seq:${seq}`).toString('base64url');
      const baseline = await time('/v1/me', member);
      const out: BenchResult[] = [];
      for (const [label, path, headers] of [
        ['connected apps (member, 10 connections)', '/apps', member],
        ['shared data (member, ~10,000 of the rows)', '/shared', member],
        ['admin connections (1,000 connections)', '/admin/connections', admin],
        ['shared data, filtered by platform and dates (member)', `/shared?platform=google_calendar&from=${day(-30)}&to=${day(0)}`, member],
        ['shared data, an older page (member, keyset cursor)', `/shared?cursor=${cursorAt(Math.floor(ROWS / 2))}`, member],
        ['admin transfer log search (organization, all rows)', '/admin/transfers', admin],
        ['admin transfer log search (one user, sent)', `/admin/transfers?user=${users[1]!.id}&outcome=sent`, admin],
        ['own access report (member)', '/shared/access', member],
        ['iManage status (member, the organization’s connection)', '/imanage', member],
        ['webhooks admin (20 endpoints)', '/admin/webhooks', admin],
        ['webhook delivery log (10,000 deliveries, 50 per page)', `/admin/webhooks/${endpoints[0]!.id}`, admin],
      ] as const) {
        const subject = await time(path, headers);
        out.push({
          name: `pages: ${label}`,
          unit: 'p95 ms',
          subject,
          baseline,
          ratio: subject / baseline,
          ratioMeaning: 'page p95 / GET /v1/me p95',
          goal: 'p95 ≤ 50 ms',
          met: subject <= 50,
          extra: { rows: ROWS, connections: CONNECTIONS, requests: REQUESTS, seededMs },
        });
      }
      return out;
    } finally {
      await cleanup();
    }
  },
};
