import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { calendarStore, limitCalendarUsage } from '../../sandbox/google/calendar.ts';
import { MAX_LIVE_REFRESH_TOKENS, SANDBOX_GOOGLE_CLIENT, setGoogleAccountOptions } from '../../sandbox/google/oauth.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';

/**
 * The Google emulator where Google is strict and the emulator used to be lenient: grants (union,
 * revoke, refresh-token limit, declined scopes), issuer forms, quota bodies, usage limits, extended
 * property and description limits, purge of cancelled events.
 */

const REDIRECT = 'http://127.0.0.1:9/callback';
const ACCOUNT = 'alice@hartmann-law.example';
const APP_CREATED = 'https://www.googleapis.com/auth/calendar.app.created';
const EVENTS = 'https://www.googleapis.com/auth/calendar.events';
const { clientId, clientSecret } = SANDBOX_GOOGLE_CLIENT;

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox(emulators, { port: 0 });
});
afterAll(async () => sandbox.close());
beforeEach(async () => {
  await fetch(`${sandbox.url}/_sandbox/reset`, { method: 'POST' });
});

/** Authorize (login_hint) + code exchange; the token response. */
async function grant(scope: string, extra: Record<string, string> = {}): Promise<{ location: URL; tokens: Record<string, string> }> {
  const url = new URL(`${sandbox.url}/google/o/oauth2/v2/auth`);
  const params = {
    client_id: clientId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    state: 'st',
    scope,
    login_hint: ACCOUNT,
    access_type: 'offline',
    prompt: 'consent',
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { redirect: 'manual' });
  const location = new URL(res.headers.get('location')!);
  const tok = await fetch(`${sandbox.url}/google/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: clientId,
      client_secret: clientSecret,
      grant_type: 'authorization_code',
      code: location.searchParams.get('code')!,
      redirect_uri: REDIRECT,
    }),
  });
  expect(tok.status).toBe(200);
  return { location, tokens: (await tok.json()) as Record<string, string> };
}

const revoke = (token: string) =>
  fetch(`${sandbox.url}/google/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });

async function calendarCall(accessToken: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${sandbox.url}/calendar/v3${path}`, {
    method,
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

const event = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  summary: 'Hearing',
  start: { date: '2026-05-01' },
  end: { date: '2026-05-02' },
  ...extra,
});

describe('sandbox: Google grants', () => {
  it('grants the union of earlier grants with include_granted_scopes, and forgets them when the grant is revoked', async () => {
    await grant(`openid email ${APP_CREATED}`);
    const second = await grant(`openid email ${EVENTS}`, { include_granted_scopes: 'true' });
    expect(second.tokens.scope!.split(' ')).toEqual(expect.arrayContaining([APP_CREATED, EVENTS]));
    expect(second.location.searchParams.get('iss')).toBe(`${sandbox.url}/google`);
    await revoke(second.tokens.refresh_token!);
    const after = await grant(`openid email ${EVENTS}`, { include_granted_scopes: 'true' });
    expect(after.tokens.scope!.split(' ')).not.toContain(APP_CREATED);
  });

  it('hands out a refresh token only on consent once an offline grant exists, and again after that grant was revoked', async () => {
    const first = await grant(`openid email ${APP_CREATED}`, { prompt: '' });
    expect(first.tokens.refresh_token).toMatch(/^sbx_rt_/); // the first offline grant shows the consent screen
    // Without prompt=consent Google skips the screen it already showed: no new refresh token, the old one keeps working.
    const again = await grant(`openid email ${APP_CREATED}`, { prompt: '' });
    expect(again.tokens.refresh_token).toBeUndefined();
    expect(sandbox.state.tokens.get(first.tokens.refresh_token!)?.revoked).toBe(false);
    // prompt=consent always mints one more.
    const forced = await grant(`openid email ${APP_CREATED}`);
    expect(forced.tokens.refresh_token).toMatch(/^sbx_rt_/);
    expect(forced.tokens.refresh_token).not.toBe(first.tokens.refresh_token);
    // After the grant was revoked, the next offline authorization is a first one again.
    expect((await revoke(first.tokens.refresh_token!)).status).toBe(200);
    const afterRevoke = await grant(`openid email ${APP_CREATED}`, { prompt: '' });
    expect(afterRevoke.tokens.refresh_token).toMatch(/^sbx_rt_/);
  });

  it('revoking one token ends every token of the client and account', async () => {
    const a = await grant(`openid email ${APP_CREATED}`);
    const b = await grant(`openid email ${APP_CREATED}`);
    expect((await revoke(a.tokens.access_token!)).status).toBe(200);
    for (const t of [a.tokens.access_token!, a.tokens.refresh_token!, b.tokens.access_token!, b.tokens.refresh_token!]) {
      expect(sandbox.state.tokens.get(t)?.revoked).toBe(true);
    }
    expect((await calendarCall(b.tokens.access_token!, 'GET', '/users/me/calendarList')).status).toBe(401);
  });

  it(`keeps at most ${MAX_LIVE_REFRESH_TOKENS} live refresh tokens per client and account: the oldest stops working`, async () => {
    const first = await grant(`openid email ${APP_CREATED}`);
    for (let i = 0; i < MAX_LIVE_REFRESH_TOKENS; i++) await grant(`openid email ${APP_CREATED}`);
    expect(sandbox.state.tokens.get(first.tokens.refresh_token!)?.revoked).toBe(true);
    const live = [...sandbox.state.tokens.values()].filter((t) => t.kind === 'refresh' && !t.revoked);
    expect(live).toHaveLength(MAX_LIVE_REFRESH_TOKENS);
  });

  it('lets an account decline a scope on the consent screen (never the identity scopes)', async () => {
    setGoogleAccountOptions(sandbox.state, ACCOUNT, { declineScopes: [APP_CREATED, 'email'] });
    const { location, tokens } = await grant(`openid email ${APP_CREATED}`);
    expect(tokens.scope).toBe('openid email');
    expect(location.searchParams.get('scope')).toBe('openid email');
  });

  it('issues the legacy issuer form for an account that asks for it', async () => {
    setGoogleAccountOptions(sandbox.state, ACCOUNT, { legacyIssuer: true });
    const { tokens } = await grant('openid email');
    const claims = JSON.parse(Buffer.from(tokens.id_token!.split('.')[1]!, 'base64url').toString()) as { iss: string };
    expect(claims.iss).toBe(`${sandbox.url.replace(/^http:\/\//, '')}/google`);
  });
});

describe('sandbox: Google Calendar limits', () => {
  it("answers quota faults without Retry-After, in Google's body (usageLimits domain, status)", async () => {
    const { tokens } = await grant(`openid email ${APP_CREATED}`);
    sandbox.state.addFault({ provider: 'google', kind: 'quota', limit: 0, path: '/calendars' });
    const res = await calendarCall(tokens.access_token!, 'POST', '/calendars', { summary: 'x' });
    expect(res.status).toBe(403);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await res.json()).toEqual({
      error: {
        code: 403,
        message: 'Rate Limit Exceeded',
        errors: [{ domain: 'usageLimits', reason: 'rateLimitExceeded', message: 'Rate Limit Exceeded' }],
        status: 'PERMISSION_DENIED',
      },
    });
  });

  it('makes an account read-only for hours on a usage limit: writes answer 403 quotaExceeded, reads still work', async () => {
    const { tokens } = await grant(`openid email ${APP_CREATED}`);
    const cal = (await (await calendarCall(tokens.access_token!, 'POST', '/calendars', { summary: 'Cases' })).json()) as { id: string };
    limitCalendarUsage(sandbox.state, ACCOUNT, 2);
    const write = await calendarCall(tokens.access_token!, 'POST', `/calendars/${encodeURIComponent(cal.id)}/events`, event('abcde12345'));
    expect(write.status).toBe(403);
    expect(write.headers.get('retry-after')).toBeNull();
    expect(((await write.json()) as { error: { errors: Array<{ reason: string }> } }).error.errors[0]!.reason).toBe('quotaExceeded');
    expect((await calendarCall(tokens.access_token!, 'GET', `/calendars/${encodeURIComponent(cal.id)}/events`)).status).toBe(200);
  });

  it('refuses extended properties over 44/1,024 characters and descriptions over 8,192', async () => {
    const { tokens } = await grant(`openid email ${APP_CREATED}`);
    const cal = (await (await calendarCall(tokens.access_token!, 'POST', '/calendars', { summary: 'Cases' })).json()) as { id: string };
    const path = `/calendars/${encodeURIComponent(cal.id)}/events`;
    const longKey = await calendarCall(tokens.access_token!, 'POST', path, event('abcde00001', { extendedProperties: { private: { ['k'.repeat(45)]: 'v' } } }));
    expect(longKey.status).toBe(400);
    const longValue = await calendarCall(tokens.access_token!, 'POST', path, event('abcde00002', { extendedProperties: { private: { k: 'v'.repeat(1025) } } }));
    expect(longValue.status).toBe(400);
    const longText = await calendarCall(tokens.access_token!, 'POST', path, event('abcde00003', { description: 'd'.repeat(8193) }));
    expect(longText.status).toBe(400);
    const fits = await calendarCall(
      tokens.access_token!,
      'POST',
      path,
      event('abcde00004', { description: 'd'.repeat(8192), extendedProperties: { private: { ['k'.repeat(44)]: 'v'.repeat(1024) } } }),
    );
    expect(fits.status).toBe(200);
  });

  it('purges cancelled events after the retention: then 404, and the id can be inserted again', async () => {
    const { tokens } = await grant(`openid email ${APP_CREATED}`);
    const cal = (await (await calendarCall(tokens.access_token!, 'POST', '/calendars', { summary: 'Cases' })).json()) as { id: string };
    const path = `/calendars/${encodeURIComponent(cal.id)}/events`;
    expect((await calendarCall(tokens.access_token!, 'POST', path, event('abcde00009'))).status).toBe(200);
    expect((await calendarCall(tokens.access_token!, 'DELETE', `${path}/abcde00009`)).status).toBe(204);
    // Before the purge: cancelled, and the id is taken.
    expect((await calendarCall(tokens.access_token!, 'POST', path, event('abcde00009'))).status).toBe(409);
    calendarStore(sandbox.state).cancelledRetentionMs = 0;
    expect((await calendarCall(tokens.access_token!, 'GET', `${path}/abcde00009`)).status).toBe(404);
    expect((await calendarCall(tokens.access_token!, 'PATCH', `${path}/abcde00009`, { summary: 'x' })).status).toBe(404);
    expect((await calendarCall(tokens.access_token!, 'POST', path, event('abcde00009'))).status).toBe(200);
  });
});
