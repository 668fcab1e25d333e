import { expect } from 'vitest';
import { FULL_RECONCILE_JOB } from '../../../queues/definitions.ts';
import { type StartWorkersOptions, startWorkers, type Workers } from '../../../queues/index.ts';
import { emulators } from '../../../sandbox/emulators.ts';
import { calendarStore } from '../../../sandbox/google/calendar.ts';
import { type Sandbox, type SandboxOptions, startSandbox } from '../../../sandbox/server.ts';
import type { LedgerEntry } from '../../../sandbox/state.ts';
import type { Logger } from '../../../src/observability/logger.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../../support/fixtures.ts';
import { createTestServices, type TestServices } from '../../support/services.ts';

/**
 * A sync test environment: the sandbox on a free port, services pointed at it (SANDBOX_URL), an
 * organization with a signed-in member, and helpers to connect Google Calendar through the real
 * OAuth flow, ingest case data over the API, and wait until the queues are idle.
 */

export const GOOGLE_ACCOUNT = 'alice@hartmann-law.example';

export interface SyncEnv {
  sandbox: Sandbox;
  t: TestServices;
  org: SeededOrg;
  /** Session headers of the member (cookie + CSRF). */
  member: Record<string, string>;
  workers: Workers | null;
  startWorkers(options?: StartWorkersOptions): Promise<Workers>;
  connect(body?: Record<string, unknown>): Promise<string>;
  ingest(items: unknown[]): Promise<void>;
  waitIdle(timeoutMs?: number): Promise<void>;
  connection(id: string): Promise<Record<string, unknown> & { status: string }>;
  calendarId(connectionId: string): Promise<string>;
  liveEvents(calendarId: string): Array<Record<string, unknown> & { id: string }>;
  writes(from?: number): LedgerEntry[];
  close(): Promise<void>;
}

export async function createSyncEnv(options: { sandbox?: SandboxOptions; env?: Record<string, string>; logger?: Logger } = {}): Promise<SyncEnv> {
  const sandbox = await startSandbox(emulators, { port: 0, ...options.sandbox });
  // Google's real 600/min per user would make every test wait; tests of the limiter set their own.
  const t = await createTestServices(
    {
      SANDBOX_URL: sandbox.url,
      GOOGLE_USER_RATE_PER_MINUTE: '60000',
      GOOGLE_PROJECT_RATE_PER_MINUTE: '600000',
      ...options.env,
    },
    { logger: options.logger },
  );
  const org = await seedOrg(t.services);
  const member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
  const env: SyncEnv = {
    sandbox,
    t,
    org,
    member,
    workers: null,
    async startWorkers(opts) {
      env.workers = await startWorkers(t.services, { maintenance: false, ...opts });
      return env.workers;
    },
    async connect(body = {}) {
      const res = await t.app.request('/v1/connections', {
        method: 'POST',
        headers: { ...member, 'content-type': 'application/json' },
        body: JSON.stringify({
          platform: 'google_calendar',
          categories: ['calendar.events'],
          caseScope: { kind: 'all' },
          loginHint: GOOGLE_ACCOUNT,
          ...body,
        }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
      // The sandbox's authorize endpoint signs the hinted account in at once and redirects back.
      const authorize = await fetch(authorizationUrl, { redirect: 'manual' });
      expect(authorize.status).toBe(302);
      const back = new URL(authorize.headers.get('location')!);
      const cb = await t.app.request(back.pathname + back.search, { headers: { ...member, accept: 'application/json' } });
      expect(cb.status, await cb.clone().text()).toBe(200);
      return connection.id;
    },
    async ingest(items) {
      const res = await t.app.request('/v1/ingest/bulk', {
        method: 'POST',
        headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
        body: JSON.stringify({ items }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    },
    async waitIdle(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let quiet = 0;
      while (Date.now() < deadline) {
        const q = t.services.queues.sync;
        const counts = await q.getJobCounts('waiting', 'active', 'prioritized', 'waiting-children');
        // Delayed jobs count, except the schedulers' next periodic full reconcile (hours away).
        const delayed = (await q.getDelayed()).filter((j) => j.name !== FULL_RECONCILE_JOB).length;
        const busy = Object.values(counts).reduce((a, b) => a + b, 0) + delayed;
        // Two quiet polls in a row: a finishing job may requeue its follow-up in between.
        quiet = busy === 0 ? quiet + 1 : 0;
        if (quiet >= 2) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      const counts = await t.services.queues.sync.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
      throw new Error(`sync queue not idle after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
    },
    async connection(id) {
      const res = await t.app.request(`/v1/connections/${id}`, { headers: member });
      expect(res.status).toBe(200);
      return ((await res.json()) as { connection: Record<string, unknown> & { status: string } }).connection;
    },
    async calendarId(connectionId) {
      const row = await t.services.db.selectFrom('connections').select('settings').where('id', '=', connectionId).executeTakeFirstOrThrow();
      return (row.settings as { calendarId: string }).calendarId;
    },
    liveEvents(calendarId) {
      return calendarStore(sandbox.state).liveEventsOf(calendarId) as Array<Record<string, unknown> & { id: string }>;
    },
    writes(from = 0) {
      return sandbox.state.ledger.filter((e) => e.write && e.seq > from);
    },
    async close() {
      await env.workers?.close();
      await t.cleanup();
      await sandbox.close();
    },
  };
  return env;
}

/** Bulk items: one case assigned to `assignee`, and `n` events (every third all-day, with descriptions and participants). */
export function caseWithEvents(params: { caseId: string; assignee: string; n: number; titlePrefix?: string; from?: number }) {
  const items: unknown[] = [
    {
      op: 'upsert',
      type: 'case',
      externalId: params.caseId,
      data: { number: `PI-${params.caseId}`, title: `Case ${params.caseId}`, assignees: [params.assignee] },
    },
  ];
  for (let i = params.from ?? 0; i < (params.from ?? 0) + params.n; i++) items.push(eventItem(params.caseId, i, params.titlePrefix ?? 'Hearing'));
  return items;
}

export function eventItem(caseId: string, i: number, titlePrefix = 'Hearing') {
  const day = String(1 + (i % 28)).padStart(2, '0');
  const allDay = i % 3 === 0;
  return {
    op: 'upsert',
    type: 'event',
    externalId: `${caseId}-ev-${i}`,
    data: {
      caseExternalId: caseId,
      kind: allDay ? 'deadline' : 'court_date',
      title: `${titlePrefix} ${i}`,
      description: `Confidential strategy note ${i}`,
      location: `Courtroom ${i % 7}`,
      participants: [{ name: `Witness ${i}`, email: `w${i}@example.com` }],
      ...(allDay
        ? { allDay: true, startDate: `2026-12-${day}`, endDate: `2026-12-${day}` }
        : { start: `2026-03-${day}T14:00:00Z`, end: `2026-03-${day}T15:00:00Z`, timeZone: 'America/New_York' }),
    },
  };
}
