import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleStore } from '../../sandbox/google/oauth.ts';
import { oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { encodeSamlPost } from '../../sandbox/onelogin/response.ts';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { vaultFor } from '../../src/connections/token-refresh.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { browse, CookieJar, formFields, googleSignIn, samlStart, verifiedGoogleDomain } from '../auth/helpers.ts';
import { bearer, signInAs } from '../support/fixtures.ts';
import { caseWithEvents, createSyncEnv, eventItem, GOOGLE_ACCOUNT, type SyncEnv } from '../sync/support/env.ts';

/**
 * "Secrets never reach logs": the service runs at log level `trace` with the production logger
 * (its redaction paths included) writing into memory, through real flows that log a lot — OAuth
 * connect, a sync with provider errors and retries, an access token rejected and refreshed, a
 * refresh token Google stops honouring, iCal feed fetches (good and bad tokens), bad API keys and
 * sessions, and a revocation that revokes the grant at the provider. Afterwards no secret the test
 * knows of — every token the sandbox issued, OAuth codes, the session id, CSRF token, API key, feed
 * URL token, client and session secrets, encryption keys — appears anywhere in the log output.
 */
describe('no secrets in logs', () => {
  let env: SyncEnv;
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });

  beforeAll(async () => {
    env = await createSyncEnv({
      env: { REVOCATION_RETRY_BASE_MS: '50', ICAL_RATE_LIMIT_PER_MINUTE: '10000' },
      logger: createLogger({ level: 'trace', destination: sink }),
    });
    await env.startWorkers();
  }, 120_000);
  afterAll(async () => env?.close());

  it('logs the flows (errors included) without a single secret', async () => {
    const { t, sandbox, member, org } = env;
    const connect = async () => {
      const res = await t.app.request('/v1/connections', {
        method: 'POST',
        headers: { ...member, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: GOOGLE_ACCOUNT }),
      });
      expect(res.status).toBe(201);
      const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
      const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
      const cb = await t.app.request(back.pathname + back.search, { headers: { ...member, accept: 'application/json' } });
      expect(cb.status).toBe(200);
      // A replayed callback (the code is single-use) is refused and logged.
      const replay = await t.app.request(back.pathname + back.search, { headers: { ...member, accept: 'application/json' } });
      expect(replay.status).toBeGreaterThanOrEqual(400);
      return connection.id;
    };

    // 1. Connect, then sync through 500s, 429s and an access token the provider no longer accepts.
    const connectionId = await connect();
    sandbox.state.addFault({ provider: 'google', kind: 'status', status: 500, path: '/events', times: 3 });
    sandbox.state.addFault({ provider: 'google', kind: 'status', status: 429, retryAfterSeconds: 1, path: '/events', times: 2 });
    sandbox.state.addFault({ provider: 'google', kind: 'expire_tokens', times: 1 });
    await env.ingest(caseWithEvents({ caseId: 'logs', assignee: org.member.email, n: 20 }));
    await env.waitIdle();
    expect(env.liveEvents(await env.calendarId(connectionId)).length).toBe(20);

    // 2. Google stops honouring the refresh token: the connection needs the user again.
    sandbox.state.addFault({ provider: 'google', kind: 'invalid_grant', account: GOOGLE_ACCOUNT });
    const vault = vaultFor(t.services);
    const stored = (await vault.load(connectionId))!;
    await vault.save(connectionId, { ...stored, expiresAt: Date.now() - 1000 });
    await env.ingest([eventItem('logs', 3, 'Changed')]);
    await env.waitIdle();
    expect((await env.connection(connectionId)).status).toBe('reauth_required');
    sandbox.state.faults = [];

    // 3. A second connection, revoked (the grant is revoked at the provider).
    const second = await connect();
    await env.waitIdle();
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const revoke = await t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId: second }, reason: 'log test' }),
    });
    expect(revoke.status).toBe(202);
    const revocationId = ((await revoke.json()) as { revocation: { id: string } }).revocation.id;

    // 4. An iCal feed: fetched with its token, with a wrong token, and conditionally.
    const feedRes = await t.app.request('/v1/ical-feeds', {
      method: 'POST',
      headers: { ...member, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Mine', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(feedRes.status).toBe(201);
    const feedUrl = new URL(((await feedRes.json()) as { url: string }).url);
    const peer = { incoming: { socket: { remoteAddress: '203.0.113.7' } } };
    const ok = await t.app.request(feedUrl.pathname, {}, peer);
    expect(ok.status).toBe(200);
    const etag = ok.headers.get('etag')!;
    expect((await t.app.request(feedUrl.pathname, { headers: { 'if-none-match': etag } }, peer)).status).toBe(304);
    const feedToken = feedUrl.pathname
      .split('/')
      .pop()!
      .replace(/\.ics$/, '');
    const wrong = `${feedToken.slice(0, -4)}AAAA`;
    expect((await t.app.request(`/ical/${wrong}.ics`, {}, peer)).status).toBe(404);

    // 5. Bad credentials of every kind.
    expect(
      (
        await t.app.request('/v1/ingest/bulk', {
          method: 'POST',
          headers: { ...bearer(`${org.apiKey}x`), 'content-type': 'application/json' },
          body: '{"items":[]}',
        })
      ).status,
    ).toBe(401);
    expect((await t.app.request('/v1/connections', { headers: { cookie: `${member.cookie}x` } })).status).toBe(401);
    const csrfHeader = Object.keys(member).find((k) => k !== 'cookie')!;
    expect(
      (
        await t.app.request('/v1/connections', {
          method: 'POST',
          headers: { cookie: member.cookie!, [csrfHeader]: 'wrong', 'content-type': 'application/json' },
          body: '{}',
        })
      ).status,
    ).toBe(403);
    await env.waitIdle();
    // The revocation's worker revokes the grant at the provider and seals the receipt.
    for (let i = 0; i < 300; i++) {
      const view = (await (await t.app.request(`/v1/admin/revocations/${revocationId}`, { headers: admin })).json()) as { revocation: { status: string } };
      if (view.revocation.status !== 'in_progress') break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const text = lines.join('');
    // The flows were logged, errors included (otherwise this test proves nothing).
    expect(lines.length).toBeGreaterThan(20);
    expect(text).toContain('sync job failed');
    expect(text).toContain('access token refreshed');
    expect(text).toContain('connection needs re-authorization');

    const secrets = new Map<string, string>();
    for (const [token, issued] of sandbox.state.tokens) secrets.set(token, `sandbox ${issued.kind} token`);
    for (const code of googleStore(sandbox.state).codes.keys()) secrets.set(code, 'OAuth authorization code');
    expect(googleStore(sandbox.state).codes.size).toBeGreaterThanOrEqual(2);
    secrets.set(member.cookie!.split('=')[1]!, 'session id');
    secrets.set(member[csrfHeader]!, 'CSRF token');
    secrets.set(admin.cookie!.split('=')[1]!, 'admin session id');
    secrets.set(org.apiKey, 'API key');
    secrets.set(feedToken, 'iCal feed token');
    const config = t.services.config as unknown as Record<string, unknown>;
    for (const name of ['SESSION_SECRET', 'GOOGLE_CLIENT_SECRET', 'TOKEN_ENCRYPTION_KEYS', 'AUDIT_SIGNING_KEY', 'SUPER_ADMIN_TOKEN']) {
      const value = config[name];
      if (typeof value === 'string' && value.length >= 8) secrets.set(value, name);
    }
    for (const key of String(config.TOKEN_ENCRYPTION_KEYS ?? '').split(',')) {
      const material = key.split(':')[1];
      if (material) secrets.set(material, 'token encryption key');
    }
    expect(sandbox.state.tokens.size).toBeGreaterThanOrEqual(4);
    expect(leakedFrom(text, secrets)).toEqual([]);
  }, 180_000);

  it('logs Google and OneLogin sign-ins (good, replayed and forged) without tokens or assertions', async () => {
    const { t, sandbox, org } = env;
    const from = lines.length;
    await t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({ allowedGoogleDomains: ['hartmann-law.example'], jitProvisioning: true, defaultRole: 'member', linkByEmail: true }) })
      .where('id', '=', org.organizationId)
      .execute();
    await verifiedGoogleDomain(t.services, org.organizationId, 'hartmann-law.example');
    const secrets = new Map<string, string>();

    // Google: a sign-in, then the same callback again (state and code are single-use).
    const google = new CookieJar();
    const { res, callback } = await googleSignIn(t, google, { email: GOOGLE_ACCOUNT });
    expect(res.status).toBe(303);
    secrets.set(google.get(SESSION_COOKIE)!, 'Google session id');
    for (const code of googleStore(sandbox.state).codes.keys()) secrets.set(code, 'OAuth authorization code');
    expect(googleStore(sandbox.state).codes.has(callback.searchParams.get('code')!)).toBe(true);
    secrets.set(callback.searchParams.get('state')!, 'OAuth state');
    expect((await browse(t, google, callback.toString())).status).toBeGreaterThanOrEqual(400);

    // OneLogin: configured through the admin API, a sign-in, its response replayed, an unsigned one.
    const idp = oneLoginIdp(sandbox.state);
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const configured = await t.app.request('/v1/admin/saml', {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        entityId: idp.entityId('logs'),
        ssoUrl: idp.ssoUrl('logs'),
        sloUrl: idp.sloUrl('logs'),
        certificates: [idp.certificatePem],
        jitProvisioning: true,
        linkByEmail: true,
      }),
    });
    expect(configured.status).toBe(200);
    const saml = new CookieJar();
    const { idpUrl } = await samlStart(t, saml, org.organizationId);
    idpUrl.searchParams.set('user', GOOGLE_ACCOUNT);
    const html = await (await fetch(idpUrl)).text();
    const fields = formFields(html);
    const acs = `/auth/saml/${org.organizationId}/acs`;
    expect((await browse(t, saml, acs, { form: fields })).status).toBe(303);
    secrets.set(saml.get(SESSION_COOKIE)!, 'SAML session id');
    const response = fields.SAMLResponse!;
    // Any 40-character piece of the base64 response, and the signature values inside it.
    for (let i = 0; i + 40 <= response.length; i += 200) secrets.set(response.slice(i, i + 40), 'SAMLResponse');
    const xml = Buffer.from(response, 'base64').toString();
    for (const m of xml.matchAll(/<(?:ds:)?SignatureValue>([^<]+)</g)) secrets.set(m[1]!.replace(/\s/g, '').slice(0, 40), 'SAML signature');
    const replay = await browse(t, new CookieJar(), acs, { form: fields });
    expect(replay.status).toBeGreaterThanOrEqual(400);
    const { requestId, relayState } = await samlStart(t, saml, org.organizationId);
    const unsigned = idp.buildResponse(
      {
        issuer: idp.entityId('logs'),
        acsUrl: `${t.config.PUBLIC_BASE_URL}${acs}`,
        audience: `${t.config.PUBLIC_BASE_URL}/auth/saml/${org.organizationId}/metadata`,
        inResponseTo: requestId,
        nameId: GOOGLE_ACCOUNT,
        attributes: { 'User.email': GOOGLE_ACCOUNT },
      },
      { signResponse: false, signAssertion: false },
    );
    const forged = encodeSamlPost(unsigned);
    secrets.set(forged.slice(100, 140), 'forged SAMLResponse');
    expect((await browse(t, saml, acs, { form: { SAMLResponse: forged, RelayState: relayState } })).status).toBeGreaterThanOrEqual(400);

    const text = lines.slice(from).join('');
    expect(text).toContain('/auth/saml/:orgId/acs');
    expect(leakedFrom(text, secrets)).toEqual([]);
    // Nothing shaped like a JWT (an ID token) or a SAML document either.
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
    expect(text).not.toMatch(/<saml|PHNhbWxw|samlp:Response/i);
  }, 120_000);
});

/** The names of the secrets that occur in the text. */
function leakedFrom(text: string, secrets: Map<string, string>): string[] {
  return [...secrets].filter(([secret]) => secret.length >= 8 && text.includes(secret)).map(([, what]) => what);
}
