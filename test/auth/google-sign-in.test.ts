import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import type { IdTokenOverride } from '../../sandbox/google/id-token.ts';
import { DEFAULT_ACCOUNTS, type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { GoogleSignIn, googleClientCredentials } from '../../src/auth/oidc-google.ts';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { SignInError } from '../../src/auth/sign-in-error.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { browse, CookieJar, errorCode, eventsWithReason, googleSignIn, location, verifiedGoogleDomain } from './helpers.ts';

describe('Google Sign-In (OpenID Connect) through the sandbox', () => {
  let sandbox: Sandbox;
  let t: TestServices;
  let firm: SeededOrg; // admits hartmann-law.example, provisions and links
  let other: SeededOrg; // no sign-in policy at all

  const override = async (o: IdTokenOverride) => {
    const res = await fetch(`${sandbox.url}/_sandbox/google/id-token-overrides`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(o),
    });
    expect(res.status).toBe(201);
  };

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, {
      port: 0,
      accounts: [
        ...DEFAULT_ACCOUNTS,
        { email: 'admin@hartmann-law.example', name: 'Ada Admin', sub: '200000000000000000001', hd: 'hartmann-law.example', emailVerified: true },
        { email: 'member@keller-partners.example', name: 'Max Member', sub: '200000000000000000002', hd: 'keller-partners.example', emailVerified: true },
      ],
    });
    t = await createTestServices({ SANDBOX_URL: sandbox.url });
    firm = await seedOrg(t.services, 'Hartmann Law');
    other = await seedOrg(t.services, 'Keller Partners');
    await t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({ allowedGoogleDomains: ['hartmann-law.example'], jitProvisioning: true, defaultRole: 'member', linkByEmail: true }) })
      .where('id', '=', firm.organizationId)
      .execute();
    await verifiedGoogleDomain(t.services, firm.organizationId, 'hartmann-law.example');
    // A personal Google account (no Workspace domain) that an administrator added to the firm.
    await t.services.db
      .insertInto('users')
      .values({ organization_id: firm.organizationId, email: 'carol@gmail.example', name: 'Carol', role: 'member', picture_url: null })
      .execute();
  });
  afterAll(async () => {
    await t?.cleanup();
    await sandbox?.close();
  });

  it('signs a Workspace user in end to end, provisioning them into the organization that admits their domain', async () => {
    const jar = new CookieJar();
    const { res } = await googleSignIn(t, jar, { email: 'alice@hartmann-law.example', returnTo: '/cases?open=1' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/cases?open=1');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);

    const me = await browse(t, jar, '/v1/me');
    expect(me.status).toBe(200);
    const body = (await me.json()) as { user: { email: string; name: string }; organization: { id: string }; role: string; csrfToken: string };
    expect(body).toMatchObject({
      user: { email: 'alice@hartmann-law.example', name: 'Alice Hartmann' },
      organization: { id: firm.organizationId },
      role: 'member',
    });
    expect(body.csrfToken.length).toBeGreaterThan(20);

    const identity = await t.services.db.selectFrom('identities').selectAll().where('subject', '=', '100000000000000000001').executeTakeFirstOrThrow();
    expect(identity).toMatchObject({ provider: 'google', issuer: `${sandbox.url}/google`, organization_id: firm.organizationId });
    const record = await t.services.db.selectFrom('login_records').selectAll().where('identity_id', '=', identity.id).executeTakeFirstOrThrow();
    expect(record.received_attributes).toEqual(expect.arrayContaining(['aud', 'email', 'email_verified', 'hd', 'iss', 'name', 'nonce', 'picture', 'sub']));
    expect(Object.keys(record.kept).sort()).toEqual(['email', 'name', 'picture']);
    expect(record.kept.email).toBe('alice@hartmann-law.example');
    const events = await t.services.db.selectFrom('security_events').selectAll().where('user_id', '=', identity.user_id).execute();
    expect(events).toEqual([expect.objectContaining({ kind: 'login', outcome: 'success', method: 'google', organization_id: firm.organizationId })]);
  });

  it('links an existing user by verified e-mail when the organization allows it, keeping their role', async () => {
    const jar = new CookieJar();
    const { res } = await googleSignIn(t, jar, { email: 'admin@hartmann-law.example' });
    expect(res.status).toBe(303);
    const me = (await (await browse(t, jar, '/v1/me')).json()) as { user: { id: string }; role: string };
    expect(me).toMatchObject({ user: { id: firm.admin.id }, role: 'admin' });
  });

  it('refuses a user whose organization neither links by e-mail nor provisions', async () => {
    const jar = new CookieJar();
    const { res } = await googleSignIn(t, jar, { email: 'member@keller-partners.example' });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('account_not_linked');
    expect(jar.get(SESSION_COOKIE)).toBeUndefined();
    const [event] = await eventsWithReason(t.services, 'account_not_linked');
    expect(event).toMatchObject({ organization_id: other.organizationId, outcome: 'failure', kind: 'login' });
  });

  it('gives a new session id at login (no fixation) and ends the session the browser had', async () => {
    const jar = new CookieJar();
    jar.set(SESSION_COOKIE, 'planted-by-an-attacker');
    const { res } = await googleSignIn(t, jar, { email: 'bob@hartmann-law.example' });
    expect(res.status).toBe(303);
    const fresh = jar.get(SESSION_COOKIE)!;
    expect(fresh).not.toBe('planted-by-an-attacker');
    expect((await t.app.request('/v1/me', { headers: { cookie: `${SESSION_COOKIE}=planted-by-an-attacker` } })).status).toBe(401);

    // A live session present at login is ended, and the new one has another id.
    const before = (await signInAs(t.services, { id: firm.admin.id, organizationId: firm.organizationId, role: 'admin' })).cookie!.split('=')[1]!;
    const jar2 = new CookieJar();
    jar2.set(SESSION_COOKIE, before);
    await googleSignIn(t, jar2, { email: 'admin@hartmann-law.example' });
    expect(jar2.get(SESSION_COOKIE)).not.toBe(before);
    expect((await t.app.request('/v1/me', { headers: { cookie: `${SESSION_COOKIE}=${before}` } })).status).toBe(401);
    expect((await browse(t, jar2, '/v1/me')).status).toBe(200);
  });

  it('returns only to same-origin relative paths after sign-in (no open redirect)', async () => {
    for (const [returnTo, expected] of [
      ['https://evil.example/steal', '/'],
      ['//evil.example/steal', '/'],
      ['/\\evil.example', '/'],
      ['/..//evil.example/phish', '/'],
      ['/.//evil.example', '/'],
      ['/a/..//evil.example', '/'],
      ['/%2e%2e//evil.example', '/'],
      ['/cases/42?tab=events', '/cases/42?tab=events'],
    ] as const) {
      const { res } = await googleSignIn(t, new CookieJar(), { email: 'bob@hartmann-law.example', returnTo });
      expect(res.headers.get('location'), returnTo).toBe(expected);
    }
  });

  it('rejects a callback without the pre-login cookie (missing state), and one whose state differs', async () => {
    const noCookie = await t.app.request('/auth/google/callback?code=abc&state=xyz');
    expect(noCookie.status).toBe(401);
    expect(await errorCode(noCookie)).toBe('oidc_state_missing');

    const wrong = await googleSignIn(t, new CookieJar(), {
      email: 'bob@hartmann-law.example',
      tamper: (u) => {
        u.searchParams.set('state', 'forged-state');
        return u;
      },
    });
    expect(wrong.res.status).toBe(401);
    expect(await errorCode(wrong.res)).toBe('oidc_state_mismatch');

    const none = await googleSignIn(t, new CookieJar(), {
      email: 'bob@hartmann-law.example',
      tamper: (u) => {
        u.searchParams.delete('state');
        return u;
      },
    });
    expect(await errorCode(none.res)).toBe('oidc_state_mismatch');
    expect((await eventsWithReason(t.services, 'oidc_state_missing')).length).toBeGreaterThan(0);
    expect((await eventsWithReason(t.services, 'oidc_state_mismatch')).length).toBe(2);
  });

  it('shows a failure before the organization is known (oidc_state_missing) to the admins of the organization the sign-in was started for', async () => {
    const eventsOf = async (org: SeededOrg) => {
      const headers = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
      const res = await t.app.request('/v1/admin/security-events?outcome=failure&limit=500', { headers });
      return ((await res.json()) as { items: Array<{ reason: string }> }).items.filter((e) => e.reason === 'oidc_state_missing');
    };
    const before = (await eventsOf(firm)).length;
    // Started at the firm's link, finished in another browser (no pre-login cookie).
    const start = await browse(t, new CookieJar(), `/auth/google/start?org=${firm.organizationId}&login_hint=bob@hartmann-law.example`);
    const callback = location(await fetch(location(start), { redirect: 'manual' }));
    const elsewhere = await browse(t, new CookieJar(), callback.toString());
    expect(await errorCode(elsewhere)).toBe('oidc_state_missing');
    // A completed sign-in's callback replayed: its state is consumed.
    const jar = new CookieJar();
    const done = await googleSignIn(t, jar, { email: 'bob@hartmann-law.example', org: firm.organizationId });
    expect(done.res.status).toBe(303);
    const replayed = await browse(t, jar, done.callback.toString());
    expect(await errorCode(replayed)).toBe('oidc_state_missing');

    expect(await eventsOf(firm)).toHaveLength(before + 2);
    expect(await eventsOf(other)).toHaveLength(0);
  });

  it('rejects a reused authorization code', async () => {
    const first = await googleSignIn(t, new CookieJar(), { email: 'bob@hartmann-law.example' });
    expect(first.res.status).toBe(303);
    const usedCode = first.callback.searchParams.get('code')!;
    // A fresh sign-in in another browser, answered with the already used code.
    const replay = await googleSignIn(t, new CookieJar(), {
      email: 'bob@hartmann-law.example',
      tamper: (u) => {
        u.searchParams.set('code', usedCode);
        return u;
      },
    });
    expect(replay.res.status).toBe(401);
    expect(await errorCode(replay.res)).toBe('oidc_code_rejected');
    expect(await eventsWithReason(t.services, 'oidc_code_rejected')).toHaveLength(1);
  });

  const jwksKid = async () => ((await (await fetch(`${sandbox.url}/google/oauth2/v3/certs`)).json()) as { keys: Array<{ kid: string }> }).keys[0]!.kid;

  const attacks: Array<[string, () => Promise<IdTokenOverride>, string]> = [
    ['a wrong nonce', async () => ({ nonce: 'not-the-one-we-sent' }), 'oidc_nonce_mismatch'],
    ['a wrong audience', async () => ({ aud: 'someone-elses-client-id' }), 'oidc_audience_mismatch'],
    ['a wrong issuer', async () => ({ iss: 'https://accounts.evil.example' }), 'oidc_issuer_mismatch'],
    ['an expired ID token', async () => ({ expired: true }), 'oidc_token_expired'],
    ['an ID token issued ten minutes in the future', async () => ({ issuedAtOffsetSeconds: 600 }), 'oidc_token_issued_in_future'],
    ['an unsigned ID token (alg: none)', async () => ({ alg: 'none' }), 'oidc_signature_invalid'],
    ['an ID token signed with a key not in the JWKS', async () => ({ unknownKey: true }), 'oidc_signature_invalid'],
    ['an ID token signed with another key under the JWKS kid', async () => ({ unknownKey: true, kid: await jwksKid() }), 'oidc_signature_invalid'],
    ['email_verified: false', async () => ({ emailVerified: false }), 'oidc_email_unverified'],
  ];
  for (const [name, make, code] of attacks) {
    it(`rejects ${name} with ${code} and a security event`, async () => {
      await override(await make());
      const jar = new CookieJar();
      const before = (await eventsWithReason(t.services, code)).length;
      const { res } = await googleSignIn(t, jar, { email: 'bob@hartmann-law.example' });
      expect([401, 403]).toContain(res.status);
      expect(await errorCode(res)).toBe(code);
      expect(jar.get(SESSION_COOKIE)).toBeUndefined();
      expect(await eventsWithReason(t.services, code)).toHaveLength(before + 1);
    });
  }

  it('accepts an ID token with the legacy issuer form (no https://) and stores the identity under the one normalised issuer', async () => {
    const first = await googleSignIn(t, new CookieJar(), { email: 'alice@hartmann-law.example' });
    expect(first.res.status).toBe(303);
    // Google appends iss (its https form) to the redirect.
    expect(first.callback.searchParams.get('iss')).toBe(`${sandbox.url}/google`);
    const before = await t.services.db.selectFrom('identities').select(['id', 'issuer']).where('subject', '=', '100000000000000000001').execute();
    const res = await fetch(`${sandbox.url}/_sandbox/google/accounts/alice@hartmann-law.example/options`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ legacyIssuer: true }),
    });
    expect(res.status).toBe(204);
    try {
      const jar = new CookieJar();
      const legacy = await googleSignIn(t, jar, { email: 'alice@hartmann-law.example' });
      expect(legacy.res.status, await legacy.res.clone().text()).toBe(303);
      expect(jar.get(SESSION_COOKIE)).toBeDefined();
      const after = await t.services.db.selectFrom('identities').select(['id', 'issuer']).where('subject', '=', '100000000000000000001').execute();
      // The same identity, not a second one under `127.0.0.1:<port>/google`.
      expect(after).toEqual(before);
      expect(after.map((i) => i.issuer)).toEqual([`${sandbox.url}/google`]);
    } finally {
      await fetch(`${sandbox.url}/_sandbox/google/accounts/alice@hartmann-law.example/options`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({}),
      });
    }
  });

  it('still refuses any other issuer spelling, and an iss redirect parameter naming another issuer', async () => {
    await override({ iss: `${sandbox.url.replace(/^http:\/\//, '')}/elsewhere` });
    const wrong = await googleSignIn(t, new CookieJar(), { email: 'bob@hartmann-law.example' });
    expect(await errorCode(wrong.res)).toBe('oidc_issuer_mismatch');
    const param = await googleSignIn(t, new CookieJar(), {
      email: 'bob@hartmann-law.example',
      tamper: (u) => {
        u.searchParams.set('iss', 'https://accounts.evil.example');
        return u;
      },
    });
    expect(await errorCode(param.res)).toBe('oidc_issuer_mismatch');
  });

  it("rejects a Google account outside the organization's allowed Workspace domains (wrong hd)", async () => {
    // Alice's identity is known (first test); her next token claims another Workspace domain.
    await override({ hd: 'evil.example' });
    const known = await googleSignIn(t, new CookieJar(), { email: 'alice@hartmann-law.example' });
    expect(known.res.status).toBe(403);
    expect(await errorCode(known.res)).toBe('oidc_domain_not_allowed');
    // Carol is a user of the firm, but her personal account has no hd at all.
    const personal = await googleSignIn(t, new CookieJar(), { email: 'carol@gmail.example' });
    expect(await errorCode(personal.res)).toBe('oidc_domain_not_allowed');
    const events = await eventsWithReason(t.services, 'oidc_domain_not_allowed');
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.organization_id === firm.organizationId)).toBe(true);
  });

  it("starts with PKCE S256, state and nonce in a short-lived HttpOnly cookie, narrowed to the organization's domain", async () => {
    const res = await t.app.request(`/auth/google/start?org=${firm.organizationId}`);
    const url = location(res);
    expect(url.origin + url.pathname).toBe(`${sandbox.url}/google/o/oauth2/v2/auth`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('state')).toBeTruthy();
    expect(url.searchParams.get('nonce')).toBeTruthy();
    expect(url.searchParams.get('redirect_uri')).toBe(`${t.config.PUBLIC_BASE_URL}/auth/google/callback`);
    expect(url.searchParams.get('hd')).toBe('hartmann-law.example');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('cb_oidc='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Max-Age=600/i);
    expect(cookie).toMatch(/Path=\/auth\/google/i);
    // The cookie holds only a handle: state, nonce and verifier stay server-side.
    expect(cookie).not.toContain(url.searchParams.get('state')!);
  });

  it('sends a browser back to the sign-in page with the reason', async () => {
    const res = await t.app.request('/auth/google/callback?code=abc&state=xyz', { headers: { accept: 'text/html' } });
    expect(location(res).pathname + location(res).search).toBe('/login?error=oidc_state_missing');
    const page = await (await t.app.request('/login?error=oidc_state_missing')).text();
    expect(page).toContain('Please try again');
  });

  it('reports google_sign_in_not_configured without client credentials', async () => {
    const config = { ...t.config, SANDBOX_URL: undefined, GOOGLE_CLIENT_ID: undefined, GOOGLE_CLIENT_SECRET: undefined };
    expect(googleClientCredentials(config)).toBeNull();
    const error = await new GoogleSignIn(config).start({ returnTo: '/' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignInError);
    expect((error as SignInError).code).toBe('google_sign_in_not_configured');
  });
});
