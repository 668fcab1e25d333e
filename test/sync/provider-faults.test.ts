import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import { calendarStore } from '../../sandbox/google/calendar.ts';
import { vaultFor } from '../../src/connections/token-refresh.ts';
import { caseWithEvents, createSyncEnv, eventItem, GOOGLE_ACCOUNT, type SyncEnv } from './support/env.ts';

/**
 * The provider misbehaving, over real HTTP with real workers: a storm of 429 / 403 rate-limit
 * answers, an access token that expires in the middle of a run, and a refresh token Google no
 * longer honours (`invalid_grant`).
 */

let env: SyncEnv;

beforeAll(async () => {
  env = await createSyncEnv();
  await env.startWorkers({ sync: { chunkSize: 20 } });
});
afterAll(async () => env.close());

const tokenCalls = () => env.sandbox.state.ledger.filter((e) => e.path === '/google/token');
const calendarCalls = (from: number) => env.sandbox.state.ledger.filter((e) => e.seq > from && e.path.startsWith('/calendar/'));

/** A connection limited to one (new) case, so the tests' connections never sync each other's data. */
async function connectForCase(caseExternal: string): Promise<string> {
  await env.ingest(caseWithEvents({ caseId: caseExternal, assignee: env.org.member.email, n: 0 }));
  const c = await env.t.services.db.selectFrom('cases').select('id').where('external_id', '=', caseExternal).executeTakeFirstOrThrow();
  return env.connect({ caseScope: { kind: 'cases', caseIds: [c.id] } });
}

async function expectConverged(connectionId: string, caseExternal: string, n: number) {
  const calendarId = await env.calendarId(connectionId);
  const rows = await env.t.services.db
    .selectFrom('case_events')
    .select('id')
    .where('external_id', 'like', `${caseExternal}-ev-%`)
    .where('deleted_at', 'is', null)
    .execute();
  expect(rows).toHaveLength(n);
  const live = calendarStore(env.sandbox.state).liveEventsOf(calendarId);
  const expected = new Set(rows.map((r) => googleEventId(connectionId, r.id)));
  expect(new Set(live.filter((e) => expected.has(e.id)).map((e) => e.id))).toEqual(expected);
  return calendarId;
}

describe('provider faults', () => {
  it('converges through a storm of 429 and 403 rateLimitExceeded answers', async () => {
    const connectionId = await connectForCase('storm');
    await env.waitIdle();
    const storm429 = env.sandbox.state.addFault({ provider: 'google', kind: 'status', status: 429, retryAfterSeconds: 1, path: '/events', times: 25 });
    const storm403 = env.sandbox.state.addFault({
      provider: 'google',
      kind: 'status',
      status: 403,
      reason: 'userRateLimitExceeded',
      path: '/events',
      times: 25,
    });
    await env.ingest(caseWithEvents({ caseId: 'storm', assignee: env.org.member.email, n: 120 }));
    await env.waitIdle(120_000);
    expect(storm429.hits).toBe(25);
    expect(storm403.hits).toBe(25);
    const calendarId = await expectConverged(connectionId, 'storm', 120);
    // No duplicates: every event was created exactly once.
    const creates = env.writes().filter((w) => w.method === 'POST' && w.path.includes(encodeURIComponent(calendarId)));
    expect(creates).toHaveLength(120);
    const view = await env.connection(connectionId);
    expect(view.counts).toMatchObject({ synced: 120, errors: 0 });
    expect(view.lastError).toBeNull();
    env.sandbox.state.faults = [];
  }, 150_000);

  it('refreshes an access token that expires mid-run exactly once, and the run continues', async () => {
    const connectionId = await connectForCase('expiry');
    await env.waitIdle();
    const tokensBefore = tokenCalls().length;
    env.sandbox.state.addFault({ provider: 'google', kind: 'delay', delayMs: 15, method: 'POST', path: '/events$' });
    await env.ingest(caseWithEvents({ caseId: 'expiry', assignee: env.org.member.email, n: 150 }));
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 60_000;
      const tick = () => {
        const calendarWrites = env.writes().filter((w) => w.path.endsWith('/events'));
        if (calendarWrites.length >= 50) return resolve();
        if (Date.now() > deadline) return reject(new Error('sync did not start'));
        setTimeout(tick, 20);
      };
      tick();
    });
    // The token expires at Google while our vault still believes it valid: the next calls get 401.
    const now = Date.now();
    for (const t of env.sandbox.state.tokens.values()) if (t.kind === 'access' && t.expiresAt > now) t.expiresAt = now;
    await env.waitIdle(90_000);
    env.sandbox.state.faults = [];
    await expectConverged(connectionId, 'expiry', 150);
    const refreshes = tokenCalls().slice(tokensBefore);
    expect(refreshes).toHaveLength(1);
    expect((await env.connection(connectionId)).status).toBe('active');
  }, 150_000);

  it('invalid_grant moves the connection to reauth_required, stops its jobs, and makes no further provider call', async () => {
    const connectionId = await connectForCase('grant');
    await env.ingest(caseWithEvents({ caseId: 'grant', assignee: env.org.member.email, n: 10 }));
    await env.waitIdle();
    // Google stops honouring the refresh token; our stored access token is due for a refresh.
    env.sandbox.state.addFault({ provider: 'google', kind: 'invalid_grant', account: GOOGLE_ACCOUNT });
    const vault = vaultFor(env.t.services);
    const stored = (await vault.load(connectionId))!;
    await vault.save(connectionId, { ...stored, expiresAt: Date.now() - 1000 });
    const mark = env.sandbox.state.ledger.at(-1)?.seq ?? 0;

    await env.ingest([eventItem('grant', 3, 'Changed')]);
    await env.waitIdle();
    const view = await env.connection(connectionId);
    expect(view.status).toBe('reauth_required');
    expect((view.lastError as { code: string; message: string }).code).toBe('reauth_required');
    expect((view.lastError as { message: string }).message).toMatch(/Reconnect/);
    expect(view.actions).toEqual([expect.objectContaining({ action: 'reconnect', href: `/v1/connections/${connectionId}/reconnect` })]);
    expect(calendarCalls(mark)).toHaveLength(0);
    expect(tokenCalls().filter((e) => e.seq > mark)).toHaveLength(0); // refused refreshes are not "accepted" requests
    const failed = await env.t.services.queues.sync.getFailed();
    const mine = failed.filter((j) => (j.data as { connectionId: string }).connectionId === connectionId);
    expect(mine.map((j) => j.attemptsMade)).toEqual([1]); // no retry storm
    const schedulers = await env.t.services.queues.sync.getJobSchedulers();
    expect(schedulers.map((x) => x.key)).not.toContain(`full:${connectionId}`);

    // More changes do not reach the provider.
    await env.ingest([eventItem('grant', 4, 'Changed again')]);
    await env.waitIdle();
    expect(calendarCalls(mark)).toHaveLength(0);

    // Reconnecting the same account resumes syncing.
    env.sandbox.state.faults = [];
    const res = await env.t.app.request(`/v1/connections/${connectionId}/reconnect`, { method: 'POST', headers: env.member });
    expect(res.status).toBe(200);
    const { authorizationUrl } = (await res.json()) as { authorizationUrl: string };
    expect(new URL(authorizationUrl).searchParams.get('login_hint')).toBe(GOOGLE_ACCOUNT);
    const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
    const cb = await env.t.app.request(back.pathname + back.search, { headers: { ...env.member, accept: 'application/json' } });
    expect(cb.status).toBe(200);
    await env.waitIdle();
    expect((await env.connection(connectionId)).status).toBe('active');
    const calendarId = await env.calendarId(connectionId);
    const summaries = calendarStore(env.sandbox.state)
      .liveEventsOf(calendarId)
      .map((e) => e.summary);
    expect(summaries).toEqual(expect.arrayContaining(['PI-grant: Changed 3', 'PI-grant: Changed again 4']));
  }, 120_000);
});
