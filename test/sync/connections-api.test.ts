import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calendarStore } from '../../sandbox/google/calendar.ts';
import { insertCase } from '../privacy/helpers.ts';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { caseWithEvents, createSyncEnv, GOOGLE_ACCOUNT, type SyncEnv } from './support/env.ts';

/** The connections API: validation, the authorization request, state binding, reads, settings. */

let env: SyncEnv;
let admin: Record<string, string>;

beforeAll(async () => {
  env = await createSyncEnv();
  admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
});
afterAll(async () => env.close());

const json = { 'content-type': 'application/json' };

async function post(body: Record<string, unknown>, headers = env.member) {
  return env.t.app.request('/v1/connections', {
    method: 'POST',
    headers: { ...headers, ...json },
    body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, ...body }),
  });
}

async function code(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

async function startAuth(body: Record<string, unknown> = {}) {
  const res = await post({ loginHint: GOOGLE_ACCOUNT, ...body });
  expect(res.status).toBe(201);
  return (await res.json()) as { connection: { id: string; status: string; actions: unknown[] }; authorizationUrl: string };
}

async function providerRedirect(authorizationUrl: string): Promise<URL> {
  const res = await fetch(authorizationUrl, { redirect: 'manual' });
  return new URL(res.headers.get('location')!);
}

describe('POST /v1/connections', () => {
  it('refuses bad input with stable codes and writes nothing', async () => {
    expect(await code(await post({ platform: 'myspace' }))).toBe('unknown_platform');
    expect(await code(await post({ platform: 'ical' }))).toBe('platform_not_oauth');
    expect(await code(await post({ categories: ['documents.files'] }))).toBe('category_not_supported');
    expect(await code(await post({ settings: { calendarId: 'primary', calendarName: 'X' } }))).toBe('invalid_settings');
    expect(await code(await post({ settings: { driftPolicy: 'sometimes' } }))).toBe('invalid_settings');
    expect(await code(await post({ caseScope: { kind: 'cases', caseIds: ['00000000-0000-4000-8000-000000000000'] } }))).toBe('unknown_case');
    expect(await code(await post({ categories: [] }))).toBe('validation_failed');
    const noCsrf = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { cookie: env.member.cookie!, ...json },
      body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(noCsrf.status).toBe(403);
    expect((await env.t.app.request('/v1/connections', { method: 'POST', headers: json, body: '{}' })).status).toBe(401);
    const rows = await env.t.services.db.selectFrom('connections').select('id').execute();
    expect(rows).toHaveLength(0);
  });

  it('grants consent exactly as a re-grant does: same codes, deleted cases refused, nothing written', async () => {
    const live = await insertCase(env.t.services, env.org.organizationId, 'GRANT-LIVE');
    const gone = await insertCase(env.t.services, env.org.organizationId, 'GRANT-GONE');
    await env.t.services.db.updateTable('cases').set({ deleted_at: new Date() }).where('id', '=', gone).execute();
    const regrant = async (connectionId: string, body: Record<string, unknown>) =>
      env.t.app.request(`/v1/connections/${connectionId}/consents`, {
        method: 'POST',
        headers: { ...env.member, ...json },
        body: JSON.stringify({ categories: ['calendar.events'], caseScope: { kind: 'all' }, ...body }),
      });
    const before = await env.t.services.db.selectFrom('connections').select('id').execute();

    // Connect: a deleted case is not a case one can consent to share.
    const deletedOnConnect = await post({ caseScope: { kind: 'cases', caseIds: [live, gone] } });
    expect(deletedOnConnect.status).toBe(400);
    expect(await deletedOnConnect.json()).toMatchObject({ error: { code: 'unknown_case', details: { caseIds: [gone] } } });
    const unsupportedOnConnect = await post({ categories: ['contacts.import'] });
    expect(unsupportedOnConnect.status).toBe(400);
    expect(await code(unsupportedOnConnect)).toBe('category_not_supported');
    expect(await env.t.services.db.selectFrom('connections').select('id').execute()).toHaveLength(before.length);

    // Re-grant: the same refusals with the same codes.
    const { connection } = await startAuth({ caseScope: { kind: 'cases', caseIds: [live] } });
    const deletedOnRegrant = await regrant(connection.id, { caseScope: { kind: 'cases', caseIds: [gone] } });
    expect(deletedOnRegrant.status).toBe(400);
    expect(await deletedOnRegrant.json()).toMatchObject({ error: { code: 'unknown_case', details: { caseIds: [gone] } } });
    const unsupportedOnRegrant = await regrant(connection.id, { categories: ['contacts.import'] });
    expect(unsupportedOnRegrant.status).toBe(400);
    expect(await code(unsupportedOnRegrant)).toBe('category_not_supported');
    const versions = await env.t.services.db.selectFrom('consents').select('version').where('connection_id', '=', connection.id).execute();
    expect(versions).toHaveLength(1);
  });

  it('refuses a platform the organization switched off', async () => {
    await env.t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({ disabledPlatforms: ['google_calendar'] }) })
      .where('id', '=', env.org.organizationId)
      .execute();
    const res = await post({});
    expect(res.status).toBe(403);
    expect(await code(res)).toBe('platform_disabled');
    await env.t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({}) })
      .where('id', '=', env.org.organizationId)
      .execute();
  });

  it('records the consent as collected through the API, whatever the client claims', async () => {
    const { connection } = await startAuth({ consentMethod: 'consent_screen', method: 'consent_screen' });
    const consent = await env.t.services.db.selectFrom('consents').select(['method']).where('connection_id', '=', connection.id).executeTakeFirstOrThrow();
    expect(consent.method).toBe('api');
  });

  it('returns an authorization URL: code flow, PKCE S256, state, offline access, the narrowest scope', async () => {
    const { authorizationUrl, connection } = await startAuth();
    const url = new URL(authorizationUrl);
    expect(url.origin + url.pathname).toBe(`${env.sandbox.url}/google/o/oauth2/v2/auth`);
    const p = url.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('state')!.length).toBeGreaterThanOrEqual(43);
    expect(p.get('access_type')).toBe('offline');
    expect(p.get('prompt')).toBe('consent');
    expect(p.get('include_granted_scopes')).toBe('true');
    expect(p.get('redirect_uri')).toBe('http://localhost:3000/v1/connections/oauth/callback');
    expect(p.get('scope')!.split(' ').sort()).toEqual(['email', 'https://www.googleapis.com/auth/calendar.app.created', 'openid']);
    expect(p.get('login_hint')).toBe(GOOGLE_ACCOUNT);
    expect(connection.status).toBe('pending');
    expect(connection.actions).toEqual([expect.objectContaining({ action: 'authorize' })]);

    const existing = new URL((await startAuth({ settings: { calendarId: 'primary' } })).authorizationUrl);
    expect(existing.searchParams.get('scope')!.split(' ').sort()).toEqual(['email', 'https://www.googleapis.com/auth/calendar.events', 'openid']);
  });
});

describe('GET /v1/connections/oauth/callback', () => {
  it('only completes in the session that started it, and only once', async () => {
    const { authorizationUrl, connection } = await startAuth();
    const back = await providerRedirect(authorizationUrl);
    const other = await signInAs(env.t.services, { id: env.org.member.id, organizationId: env.org.organizationId, role: 'member' });
    const wrong = await env.t.app.request(back.pathname + back.search, { headers: { ...other, accept: 'application/json' } });
    expect(wrong.status).toBe(400);
    expect(await code(wrong)).toBe('state_session_mismatch');
    expect((await env.connection(connection.id)).status).toBe('pending');
    // The callback in the wrong session did not consume the state: the owner still completes, once.
    const owner = await env.t.app.request(back.pathname + back.search, { headers: { ...env.member, accept: 'application/json' } });
    expect(owner.status).toBe(200);
    expect((await env.connection(connection.id)).status).toBe('active');
    const again = await env.t.app.request(back.pathname + back.search, { headers: { ...env.member, accept: 'application/json' } });
    expect(await code(again)).toBe('state_invalid');
    const late = await env.t.app.request(back.pathname + back.search, { headers: { ...other, accept: 'application/json' } });
    expect(await code(late)).toBe('state_invalid');
  });

  it('redirects the browser back to the app, and a replayed callback is refused', async () => {
    const { authorizationUrl, connection } = await startAuth();
    const back = await providerRedirect(authorizationUrl);
    const res = await env.t.app.request(back.pathname + back.search, { headers: env.member });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`http://localhost:3000/?connected=${connection.id}`);
    const replay = await env.t.app.request(back.pathname + back.search, { headers: env.member });
    expect(replay.headers.get('location')).toBe('http://localhost:3000/?connection_error=state_invalid');
    const view = await env.connection(connection.id);
    expect([view.status, view.account]).toEqual(['active', GOOGLE_ACCOUNT]);
  });

  it('records a cancelled authorization in plain words and leaves the connection pending', async () => {
    const { authorizationUrl, connection } = await startAuth();
    const state = new URL(authorizationUrl).searchParams.get('state')!;
    const res = await env.t.app.request(`/v1/connections/oauth/callback?error=access_denied&state=${encodeURIComponent(state)}`, {
      headers: { ...env.member, accept: 'application/json' },
    });
    expect(await code(res)).toBe('authorization_denied');
    const view = await env.connection(connection.id);
    expect(view.status).toBe('pending');
    expect((view.lastError as { message: string }).message).toMatch(/cancelled/);
  });
});

describe('reading and changing connections', () => {
  it('lists own connections; administrators see the organization; other organizations see nothing', async () => {
    const mine = (await (await env.t.app.request('/v1/connections', { headers: env.member })).json()) as {
      items: Array<{ id: string }>;
      nextCursor: string | null;
    };
    expect(mine.items.length).toBeGreaterThan(0);
    expect((await env.t.app.request('/v1/connections?all=true', { headers: env.member })).status).toBe(403);
    const all = (await (await env.t.app.request('/v1/connections?all=true', { headers: admin })).json()) as {
      items: Array<{ id: string }>;
      nextCursor: string | null;
    };
    expect(all.items.map((c) => c.id).sort()).toEqual(mine.items.map((c) => c.id).sort());
    expect((await env.t.app.request('/v1/connections', { headers: admin })).status).toBe(200);
    const id = mine.items[0]!.id;
    expect((await env.t.app.request(`/v1/connections/${id}`, { headers: admin })).status).toBe(200);
    const otherOrg = await seedOrg(env.t.services, 'Other Firm');
    const stranger = await signInAs(env.t.services, { id: otherOrg.admin.id, organizationId: otherOrg.organizationId, role: 'admin' });
    expect((await env.t.app.request(`/v1/connections/${id}`, { headers: stranger })).status).toBe(404);
    const theirs = (await (await env.t.app.request('/v1/connections?all=true', { headers: stranger })).json()) as {
      items: unknown[];
      nextCursor: string | null;
    };
    expect(theirs).toEqual({ items: [], nextCursor: null });
  });

  it('pages the list with limit and cursor: every connection once, then nextCursor null', async () => {
    const all = (await (await env.t.app.request('/v1/connections?all=true', { headers: admin })).json()) as { items: Array<{ id: string }> };
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await env.t.app.request(`/v1/connections?all=true&limit=1${cursor ? `&cursor=${cursor}` : ''}`, { headers: admin });
      const page = (await res.json()) as { items: Array<{ id: string }>; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.items.map((c) => c.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.items.map((c) => c.id));
    const bad = await env.t.app.request('/v1/connections?cursor=not-ours', { headers: admin });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_cursor' } });
  });

  it('changes settings, refuses unknown ones, and renames the dedicated calendar on the next sync', async () => {
    await env.t.services.db.updateTable('connections').set({ status: 'paused' }).where('status', '=', 'active').execute();
    const id = await env.connect();
    await env.startWorkers();
    await env.waitIdle();
    const patch = (settings: unknown, headers = env.member) =>
      env.t.app.request(`/v1/connections/${id}`, { method: 'PATCH', headers: { ...headers, ...json }, body: JSON.stringify({ settings }) });
    expect(await code(await patch({ calendarId: 'primary' }))).toBe('invalid_settings');
    expect((await patch({ deadlineReminders: true }, admin)).status).toBe(404); // settings are the owner's
    const res = await patch({ calendarName: 'Court dates', driftPolicy: 'leave', deadlineReminders: true });
    expect(res.status).toBe(200);
    const { connection } = (await res.json()) as { connection: { settings: Record<string, unknown> } };
    expect(connection.settings).toMatchObject({ calendarName: 'Court dates', driftPolicy: 'leave', deadlineReminders: true, dedicatedCalendar: true });
    await env.waitIdle();
    const calendarId = await env.calendarId(id);
    expect(calendarStore(env.sandbox.state).calendars.get(calendarId)!.summary).toBe('Court dates');
  });

  it('writes into an existing calendar with the calendar.events scope and creates none', async () => {
    await env.t.services.db.updateTable('connections').set({ status: 'paused' }).where('status', '=', 'active').execute();
    const calendarsBefore = calendarStore(env.sandbox.state)
      .calendarsOf(GOOGLE_ACCOUNT)
      .filter((c) => !c.primary).length;
    const id = await env.connect({ settings: { calendarId: 'primary' } });
    await env.ingest(caseWithEvents({ caseId: 'prim', assignee: env.org.member.email, n: 3 }));
    await env.waitIdle();
    expect(
      calendarStore(env.sandbox.state)
        .calendarsOf(GOOGLE_ACCOUNT)
        .filter((c) => !c.primary),
    ).toHaveLength(calendarsBefore);
    expect(calendarStore(env.sandbox.state).liveEventsOf(GOOGLE_ACCOUNT)).toHaveLength(3);
    const view = await env.connection(id);
    expect(view.settings).toMatchObject({ calendarId: 'primary', dedicatedCalendar: false });
    expect(view.counts).toMatchObject({ synced: 3 });
  });
});
