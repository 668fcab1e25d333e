import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleCalendar } from '../../connectors/google-calendar/index.ts';
import { connectorFor } from '../../connectors/registry.ts';
import type { RevokeContext } from '../../connectors/types.ts';
import { FULL_RECONCILE_JOB } from '../../queues/definitions.ts';
import { calendarStore, limitCalendarUsage } from '../../sandbox/google/calendar.ts';
import { setGoogleAccountOptions } from '../../sandbox/google/oauth.ts';
import { createTokenAccess, vaultFor } from '../../src/connections/token-refresh.ts';
import { redisKey } from '../../src/redis.ts';
import { revokeContextFor } from '../../src/revocation/revoke-context.ts';
import { caseWithEvents, createSyncEnv, eventItem, GOOGLE_ACCOUNT, type SyncEnv } from './support/env.ts';

/**
 * The Google connector against an emulator as strict as Google (issue: reconnects, shared grants,
 * usage limits, partial grants, purged events). Each test names the Google behaviour it relies on.
 */

const APP_CREATED = 'https://www.googleapis.com/auth/calendar.app.created';

let env: SyncEnv;

beforeAll(async () => {
  env = await createSyncEnv();
  await env.startWorkers();
});
afterAll(async () => env.close());

/** Only one connection of the member is live at a time unless a test says otherwise. */
async function pauseOthers(): Promise<void> {
  await env.t.services.db.updateTable('connections').set({ status: 'paused' }).where('status', '=', 'active').execute();
}

async function revokedContext(connectionId: string, purgeRemote: boolean): Promise<RevokeContext> {
  const row = await env.t.services.db
    .updateTable('connections')
    .set({ status: 'revoked', revoked_at: new Date() })
    .where('id', '=', connectionId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return revokeContextFor(env.t.services, connectorFor(row.platform)!, row, purgeRemote);
}

/** Runs the reconnect flow in the sandbox; returns the authorization URL and the callback response. */
async function reconnect(id: string, body: Record<string, unknown> = {}): Promise<{ authorizationUrl: URL; callback: Response }> {
  const res = await env.t.app.request(`/v1/connections/${id}/reconnect`, {
    method: 'POST',
    headers: { ...env.member, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const { authorizationUrl } = (await res.json()) as { authorizationUrl: string };
  const authorize = await fetch(authorizationUrl, { redirect: 'manual' });
  const back = new URL(authorize.headers.get('location')!);
  const callback = await env.t.app.request(back.pathname + back.search, { headers: { ...env.member, accept: 'application/json' } });
  return { authorizationUrl: new URL(authorizationUrl), callback };
}

describe('Google, as strict as Google', () => {
  it('reconnects after the user removed access asking for calendar.app.created again, so rename and purge still work', async () => {
    await pauseOthers();
    const id = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'rc1', assignee: env.org.member.email, n: 3 }));
    await env.waitIdle();
    const calendarId = await env.calendarId(id);
    // The user removes Casebridge's access in their Google account: the grant (and its scopes) is gone.
    expect((await fetch(`${env.sandbox.url}/_sandbox/google/accounts/${GOOGLE_ACCOUNT}/remove-access`, { method: 'POST' })).status).toBe(204);
    const { authorizationUrl, callback } = await reconnect(id);
    expect(authorizationUrl.searchParams.get('scope')!.split(' ')).toContain(APP_CREATED);
    // The grant was revoked: only a consent screen gives a new refresh token.
    expect(authorizationUrl.searchParams.get('prompt')).toBe('consent');
    expect(callback.status, await callback.clone().text()).toBe(200);

    const patch = await env.t.app.request(`/v1/connections/${id}`, {
      method: 'PATCH',
      headers: { ...env.member, 'content-type': 'application/json' },
      body: JSON.stringify({ settings: { calendarName: 'Court dates (renamed)' } }),
    });
    expect(patch.status, await patch.clone().text()).toBe(200);
    await env.waitIdle();
    expect(calendarStore(env.sandbox.state).calendars.get(calendarId)?.summary).toBe('Court dates (renamed)');
    expect((await env.connection(id)).status).toBe('active');

    const steps = await googleCalendar.revoke(await revokedContext(id, true));
    expect(steps[0]).toMatchObject({ step: 'purge_remote', result: 'done' });
    // No case data left in the user's calendar.
    expect(calendarStore(env.sandbox.state).calendars.has(calendarId)).toBe(false);
  }, 90_000);

  it('does not revoke the Google grant while another connection of the same account uses it, and says so on the receipt', async () => {
    await pauseOthers();
    const first = await env.connect();
    await pauseOthers();
    const second = await env.connect();
    await env.t.services.db.updateTable('connections').set({ status: 'active' }).where('id', '=', first).execute();
    await env.waitIdle();
    const vault = vaultFor(env.t.services);
    const firstTokens = (await vault.load(first))!;

    const steps = await googleCalendar.revoke(await revokedContext(second, false));
    expect(steps).toEqual([expect.objectContaining({ step: 'provider_revoke', result: 'skipped', detail: expect.stringMatching(/other active connection/) })]);
    // The sibling still works at Google.
    expect(env.sandbox.state.tokens.get(firstTokens.refreshToken!)?.revoked).toBe(false);

    // The last connection of the account ends the grant: every token of the client and account.
    const last = await googleCalendar.revoke(await revokedContext(first, false));
    expect(last).toEqual([expect.objectContaining({ step: 'provider_revoke', result: 'done', providerStatus: 200 })]);
    const live = [...env.sandbox.state.tokens.values()].filter((t) => t.provider === 'google' && t.account === GOOGLE_ACCOUNT && !t.revoked);
    expect(live).toEqual([]);
  }, 90_000);

  it('refuses a partial grant in the callback: "Calendar access was not granted", a retry link, no tokens kept', async () => {
    await pauseOthers();
    setGoogleAccountOptions(env.sandbox.state, GOOGLE_ACCOUNT, { declineScopes: [APP_CREATED] });
    try {
      const res = await env.t.app.request('/v1/connections', {
        method: 'POST',
        headers: { ...env.member, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: GOOGLE_ACCOUNT }),
      });
      const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
      const authorize = await fetch(authorizationUrl, { redirect: 'manual' });
      const back = new URL(authorize.headers.get('location')!);
      const cb = await env.t.app.request(back.pathname + back.search, { headers: { ...env.member, accept: 'application/json' } });
      expect(cb.status).toBe(403);
      const body = (await cb.json()) as { error: { code: string; message: string; details: { retry: { href: string } } } };
      expect(body.error.code).toBe('scope_not_granted');
      expect(body.error.message).toMatch(/Calendar access was not granted/);
      expect(body.error.details.retry.href).toBe(`/v1/connections/${connection.id}/reconnect`);
      const view = await env.connection(connection.id);
      expect(view.status).toBe('pending');
      expect(view.lastError).toMatchObject({ code: 'scope_not_granted' });
      expect(await vaultFor(env.t.services).load(connection.id)).toBeNull();
    } finally {
      setGoogleAccountOptions(env.sandbox.state, GOOGLE_ACCOUNT, {});
    }
  }, 60_000);

  it('re-creates an event Google purged after an edit (PATCH 412, then GET 404) instead of calling the calendar missing', async () => {
    await pauseOthers();
    const id = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'pg1', assignee: env.org.member.email, n: 1 }));
    await env.waitIdle();
    const calendarId = await env.calendarId(id);
    const remoteId = env.liveEvents(calendarId).find((e) => String(e.summary).startsWith('PI-pg1:'))!.id;
    // The user edited it (the stored ETag is stale), then deleted it, and Google purged it.
    env.sandbox.state.addFault({ provider: 'google', kind: 'status', status: 412, method: 'PATCH', path: remoteId, times: 1 });
    calendarStore(env.sandbox.state).events.get(calendarId)!.delete(remoteId);
    const from = env.sandbox.state.ledger.length;
    await env.ingest([eventItem('pg1', 0, 'Moved hearing')]);
    await env.waitIdle();
    // One pass: GET 404 → insert. Not "the calendar is missing" → re-verify → a second PATCH (404).
    const afterFault = env.sandbox.state.ledger.slice(from).map((e) => `${e.method} ${e.status}`);
    expect(afterFault).toEqual(['GET 404', 'POST 200']);
    expect(
      env
        .liveEvents(calendarId)
        .filter((e) => e.id === remoteId)
        .map((e) => e.summary),
    ).toEqual(['PI-pg1: Moved hearing 0']);
    expect(await env.calendarId(id)).toBe(calendarId); // no reset, no new calendar
    expect((await env.connection(id)).lastError).toBeNull();
  }, 60_000);

  it('updates an event whose PATCH answered 404 but whose id exists again (insert 409 → PATCH)', async () => {
    await pauseOthers();
    const id = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'pg2', assignee: env.org.member.email, n: 1 }));
    await env.waitIdle();
    const calendarId = await env.calendarId(id);
    const remoteId = env.liveEvents(calendarId).find((e) => String(e.summary).startsWith('PI-pg2:'))!.id;
    env.sandbox.state.addFault({ provider: 'google', kind: 'status', status: 404, method: 'PATCH', path: remoteId, times: 1 });
    await env.ingest([eventItem('pg2', 0, 'Renamed hearing')]);
    await env.waitIdle();
    expect(
      env
        .liveEvents(calendarId)
        .filter((e) => e.id === remoteId)
        .map((e) => e.summary),
    ).toEqual(['PI-pg2: Renamed hearing 0']);
    expect((await env.connection(id)).lastError).toBeNull();
  }, 60_000);

  it('pauses the account for an hour on a calendar usage limit (403 quotaExceeded, no Retry-After) and tells the user when it resumes', async () => {
    await pauseOthers();
    const id = await env.connect();
    await env.waitIdle();
    limitCalendarUsage(env.sandbox.state, GOOGLE_ACCOUNT, 3);
    const from = env.sandbox.state.ledger.length;
    await env.ingest(caseWithEvents({ caseId: 'ul1', assignee: env.org.member.email, n: 4 }));
    const pauseKey = redisKey(env.t.services.config.REDIS_PREFIX, 'rlog', 'google_calendar', 'pause', GOOGLE_ACCOUNT);
    const deadline = Date.now() + 20_000;
    let pttl = -2;
    while (Date.now() < deadline && pttl < 0) {
      pttl = await env.t.services.redis.pttl(pauseKey);
      if (pttl < 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(pttl).toBeGreaterThan(55 * 60_000);
    let view = await env.connection(id);
    for (let i = 0; i < 50 && (view.lastError as { code?: string } | null)?.code !== 'provider_usage_limit'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      view = await env.connection(id);
    }
    expect(view.lastError).toMatchObject({ code: 'provider_usage_limit', message: expect.stringMatching(/usage limit.*resumes around \d{4}-/) });
    // Not hammering Google: a couple of refused writes, then silence.
    await new Promise((r) => setTimeout(r, 1500));
    const refused = env.sandbox.state.ledger.slice(from).filter((e) => e.status === 403);
    expect(refused.length).toBeLessThanOrEqual(8);
    await endUsageLimit();
  }, 60_000);

  it('grows the usage-limit pause on repeats (1 h, then 2 h, kept across a worker restart) and starts over after a successful write', async () => {
    await pauseOthers();
    const id = await env.connect();
    await env.waitIdle();
    const { redis } = env.t.services;
    const usageKey = redisKey(env.t.services.config.REDIS_PREFIX, 'rlog', 'google_calendar', 'usage', GOOGLE_ACCOUNT);
    limitCalendarUsage(env.sandbox.state, GOOGLE_ACCOUNT, 10);
    await env.ingest(caseWithEvents({ caseId: 'ug1', assignee: env.org.member.email, n: 2 }));
    const first = await nextPause();
    expect(first).toBeGreaterThan(55 * 60_000);
    expect(first).toBeLessThanOrEqual(60 * 60_000);
    expect((await usageError(id)).message).toMatch(/pauses for 1 h and resumes around \d{4}-/);

    // The hour passes (the pause key runs out); the workers restart meanwhile; the calendar is still read-only.
    await redis.del(pauseKey());
    await env.workers!.close();
    await env.startWorkers();
    await promoteDelayed(id);
    const second = await nextPause();
    expect(second).toBeGreaterThan(115 * 60_000);
    expect(second).toBeLessThanOrEqual(120 * 60_000);
    const shown = await usageError(id, /pauses for 2 h/);
    const resumesAt = Date.parse(/resumes around (\S+?) \(/.exec(shown.message)![1]!);
    expect(Math.abs(resumesAt - (Date.now() + second))).toBeLessThan(60_000);

    // The pause ends and the calendar is writable again: the write succeeds and the level is forgotten.
    calendarStore(env.sandbox.state).readOnlyUntil.clear();
    await redis.del(pauseKey());
    await promoteDelayed(id);
    await env.waitIdle();
    expect(env.liveEvents(await env.calendarId(id)).filter((e) => String(e.summary).startsWith('PI-ug1:'))).toHaveLength(2);
    expect(await redis.exists(usageKey)).toBe(0);
    expect((await env.connection(id)).lastError).toBeNull();

    // A new usage limit pauses for the base hour again.
    limitCalendarUsage(env.sandbox.state, GOOGLE_ACCOUNT, 10);
    await env.ingest(caseWithEvents({ caseId: 'ug2', assignee: env.org.member.email, n: 1 }));
    const again = await nextPause();
    expect(again).toBeGreaterThan(55 * 60_000);
    expect(again).toBeLessThanOrEqual(60 * 60_000);
    await endUsageLimit();
  }, 90_000);

  it('reconnects without forcing consent while the refresh token works (Google then sends none): the token is kept and Google mints no new one', async () => {
    await pauseOthers();
    await removeAccess(); // no live grant of the account
    // First connect: the consent screen is forced; Google hands out the grant's refresh token.
    const a = await createConnection({ loginHint: GOOGLE_ACCOUNT });
    expect(a.authorizationUrl.searchParams.get('prompt')).toBe('consent');
    expect((await complete(a.authorizationUrl)).status).toBe(200);
    const vault = vaultFor(env.t.services);
    const granted = (await vault.load(a.id))!.refreshToken!;
    expect(liveRefreshTokens()).toEqual([granted]);

    // Reconnect while it works: no prompt=consent, so Google returns no refresh token; the connection keeps its own.
    const again = await reconnect(a.id);
    expect(again.authorizationUrl.searchParams.has('prompt')).toBe(false);
    expect(again.authorizationUrl.searchParams.get('access_type')).toBe('offline');
    expect(again.callback.status, await again.callback.clone().text()).toBe(200);
    expect((await vault.load(a.id))!.refreshToken).toBe(granted);
    expect((await env.connection(a.id)).status).toBe('active');

    // A second connection of the same account reuses the grant's refresh token too, and it works.
    const b = await createConnection({ loginHint: GOOGLE_ACCOUNT });
    expect(b.authorizationUrl.searchParams.has('prompt')).toBe(false);
    expect((await complete(b.authorizationUrl)).status).toBe(200);
    const bTokens = (await vault.load(b.id))!;
    expect(bTokens.refreshToken).toBe(granted);
    const tokens = createTokenAccess(env.t.services, { oauth: googleCalendar.oauth!, onReauthRequired: async () => undefined });
    expect(await tokens.refreshAfterRejection(b.id, bTokens.accessToken)).not.toBe(bTokens.accessToken);
    // Not one more refresh token at Google (100 live per client and account, the oldest then stops working).
    expect(liveRefreshTokens()).toEqual([granted]);

    // Without an account to look for (no login hint), consent is forced.
    const unhinted = await createConnection({});
    expect(unhinted.authorizationUrl.searchParams.get('prompt')).toBe('consent');

    // The user removed access: the old token no longer works, so the reconnect forces consent and gets a new one.
    await removeAccess();
    const afterRevoke = await reconnect(a.id);
    expect(afterRevoke.authorizationUrl.searchParams.get('prompt')).toBe('consent');
    expect(afterRevoke.callback.status).toBe(200);
    const renewed = (await vault.load(a.id))!.refreshToken!;
    expect(renewed).not.toBe(granted);
    expect(liveRefreshTokens()).toEqual([renewed]);
  }, 60_000);

  it('refuses a callback that brings no refresh token when the reused one is gone, and the retry forces consent', async () => {
    await pauseOthers();
    await removeAccess();
    const a = await createConnection({ loginHint: GOOGLE_ACCOUNT });
    expect((await complete(a.authorizationUrl)).status).toBe(200);
    const c = await createConnection({ loginHint: GOOGLE_ACCOUNT });
    expect(c.authorizationUrl.searchParams.has('prompt')).toBe(false);
    // The connection whose grant was to be reused is revoked before the user comes back.
    await env.t.services.db.updateTable('connections').set({ status: 'revoked', revoked_at: new Date() }).where('id', '=', a.id).execute();
    const cb = await complete(c.authorizationUrl);
    expect(cb.status).toBe(409);
    const body = (await cb.json()) as { error: { code: string; details: { retry: { href: string } } } };
    expect(body.error.code).toBe('refresh_token_missing');
    expect(body.error.details.retry.href).toBe(`/v1/connections/${c.id}/reconnect`);
    expect(await vaultFor(env.t.services).load(c.id)).toBeNull();
    expect((await env.connection(c.id)).status).toBe('pending');
    const retry = await reconnect(c.id, { loginHint: GOOGLE_ACCOUNT });
    expect(retry.authorizationUrl.searchParams.get('prompt')).toBe('consent');
    expect(retry.callback.status, await retry.callback.clone().text()).toBe(200);
    expect((await vaultFor(env.t.services).load(c.id))!.refreshToken).toMatch(/^sbx_rt_/);
  }, 60_000);
});

async function removeAccess(): Promise<void> {
  expect((await fetch(`${env.sandbox.url}/_sandbox/google/accounts/${GOOGLE_ACCOUNT}/remove-access`, { method: 'POST' })).status).toBe(204);
}

/** POST /v1/connections for the member; the connection id and the authorization URL. */
async function createConnection(extra: Record<string, unknown>): Promise<{ id: string; authorizationUrl: URL }> {
  const res = await env.t.app.request('/v1/connections', {
    method: 'POST',
    headers: { ...env.member, 'content-type': 'application/json' },
    body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, ...extra }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const body = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
  return { id: body.connection.id, authorizationUrl: new URL(body.authorizationUrl) };
}

/** The sandbox signs the hinted account in at once; the app's callback response. */
async function complete(authorizationUrl: URL): Promise<Response> {
  const authorize = await fetch(authorizationUrl, { redirect: 'manual' });
  const back = new URL(authorize.headers.get('location')!);
  return env.t.app.request(back.pathname + back.search, { headers: { ...env.member, accept: 'application/json' } });
}

/** The account's refresh tokens Google still honours. */
function liveRefreshTokens(): string[] {
  return [...env.sandbox.state.tokens.entries()]
    .filter(([, t]) => t.provider === 'google' && t.kind === 'refresh' && t.account === GOOGLE_ACCOUNT && !t.revoked)
    .map(([token]) => token);
}

function pauseKey(): string {
  return redisKey(env.t.services.config.REDIS_PREFIX, 'rlog', 'google_calendar', 'pause', GOOGLE_ACCOUNT);
}

/** Waits for the account's pause to be set; its remaining ms. */
async function nextPause(): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const pttl = await env.t.services.redis.pttl(pauseKey());
    if (pttl > 0 || Date.now() > deadline) return pttl;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The connection's `provider_usage_limit` error once it is shown (and matches `message`). */
async function usageError(id: string, message = /usage limit/): Promise<{ code: string; message: string }> {
  type LastError = { code?: string; message?: string } | null;
  let last: LastError = null;
  for (let i = 0; i < 100; i++) {
    last = (await env.connection(id)).lastError as LastError;
    if (last?.code === 'provider_usage_limit' && message.test(last.message ?? '')) return { code: last.code, message: last.message ?? '' };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no provider_usage_limit error matching ${message}: ${JSON.stringify(last)}`);
}

/** The connection's sync job delayed by the pause runs now (as it would once the pause is over). */
async function promoteDelayed(id: string): Promise<void> {
  const delayed = (await env.t.services.queues.sync.getDelayed()).filter((j) => j.name !== FULL_RECONCILE_JOB && j.data?.connectionId === id);
  expect(delayed.length).toBeGreaterThan(0);
  for (const j of delayed) await j.promote();
}

/** Lifts the calendar's read-only state, the account's pause and usage level, and drops the jobs they delayed. */
async function endUsageLimit(): Promise<void> {
  calendarStore(env.sandbox.state).readOnlyUntil.clear();
  const { redis, config } = env.t.services;
  await redis.del(pauseKey(), redisKey(config.REDIS_PREFIX, 'rlog', 'google_calendar', 'usage', GOOGLE_ACCOUNT));
  for (const j of await env.t.services.queues.sync.getDelayed()) if (j.name !== FULL_RECONCILE_JOB) await j.remove();
}
