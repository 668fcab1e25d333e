import { OAuth2Client } from 'google-auth-library';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { SANDBOX_GOOGLE_CLIENT } from '../../sandbox/google/oauth.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const { clientId, clientSecret } = SANDBOX_GOOGLE_CLIENT;

/** Runs the authorization step with login_hint and returns the code from the redirect. */
async function authorize(sandbox: Sandbox, params: Record<string, string>): Promise<{ code: string; state: string | null; location: URL }> {
  const url = new URL(`${sandbox.url}/google/o/oauth2/v2/auth`);
  for (const [k, v] of Object.entries({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', state: 'st', ...params })) {
    url.searchParams.set(k, v);
  }
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  return { code: location.searchParams.get('code') ?? '', state: location.searchParams.get('state'), location };
}

async function token(sandbox: Sandbox, body: Record<string, string>): Promise<Response> {
  return fetch(`${sandbox.url}/google/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, client_secret: clientSecret, ...body }),
  });
}

describe('sandbox: Google OAuth 2.0 / OpenID Connect', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
  });
  afterAll(async () => sandbox.close());
  beforeEach(async () => {
    await fetch(`${sandbox.url}/_sandbox/reset`, { method: 'POST' });
  });

  it('serves a discovery document openid-client accepts, and a code flow with PKCE and nonce whose ID token verifies against the JWKS', async () => {
    const config = await oidc.discovery(new URL(`${sandbox.url}/google`), clientId, clientSecret, oidc.ClientSecretPost(clientSecret), {
      execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
    });
    expect(config.serverMetadata().issuer).toBe(`${sandbox.url}/google`);
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const state = oidc.randomState();
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
      state,
      login_hint: 'alice@hartmann-law.example',
    });
    const res = await fetch(authUrl, { redirect: 'manual' });
    const callback = new URL(res.headers.get('location')!);
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedNonce: nonce,
      expectedState: state,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      iss: `${sandbox.url}/google`,
      aud: clientId,
      sub: '100000000000000000001',
      email: 'alice@hartmann-law.example',
      email_verified: true,
      hd: 'hartmann-law.example',
      name: 'Alice Hartmann',
      nonce,
    });
    expect(tokens.refresh_token).toBeUndefined();
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info.email).toBe('alice@hartmann-law.example');
    const ledger = (await (await fetch(`${sandbox.url}/_sandbox/ledger?provider=google`)).json()) as {
      entries: Array<{ path: string; account: string | null }>;
    };
    expect(ledger.entries.map((e) => e.path)).toEqual(expect.arrayContaining(['/google/o/oauth2/v2/auth', '/google/token', '/google/v1/userinfo']));
    expect(ledger.entries.find((e) => e.path === '/google/token')?.account).toBe('alice@hartmann-law.example');
  });

  it('refuses a wrong PKCE verifier and a reused authorization code with invalid_grant', async () => {
    const { code } = await authorize(sandbox, {
      scope: 'openid email',
      login_hint: 'bob@hartmann-law.example',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    });
    const wrong = await token(sandbox, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: 'y'.repeat(43) });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: string }).error).toBe('invalid_grant');

    const second = await authorize(sandbox, { scope: 'openid email', login_hint: 'bob@hartmann-law.example' });
    const first = await token(sandbox, { grant_type: 'authorization_code', code: second.code, redirect_uri: REDIRECT });
    expect(first.status).toBe(200);
    const reused = await token(sandbox, { grant_type: 'authorization_code', code: second.code, redirect_uri: REDIRECT });
    expect(reused.status).toBe(400);
    expect(((await reused.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('rejects unknown clients with invalid_client', async () => {
    const { code } = await authorize(sandbox, { scope: 'openid', login_hint: 'bob@hartmann-law.example' });
    const res = await token(sandbox, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_secret: 'nope' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('works with google-auth-library: refresh keeps the refresh token, revoke ends the family, injected invalid_grant and 5xx apply', async () => {
    const { code } = await authorize(sandbox, {
      scope: 'https://www.googleapis.com/auth/calendar',
      login_hint: 'carol@gmail.example',
      access_type: 'offline',
      prompt: 'consent',
    });
    const client = new OAuth2Client({
      clientId,
      clientSecret,
      redirectUri: REDIRECT,
      endpoints: { oauth2TokenUrl: `${sandbox.url}/google/token`, oauth2RevokeUrl: `${sandbox.url}/google/revoke` },
    });
    const { tokens } = await client.getToken(code);
    expect(tokens.refresh_token).toMatch(/^sbx_rt_/);
    client.setCredentials(tokens);
    const raw = await token(sandbox, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    const refreshed = (await raw.json()) as Record<string, unknown>;
    expect(refreshed.access_token).toMatch(/^sbx_at_/);
    expect(refreshed.refresh_token).toBeUndefined();
    const viaLibrary = await client.refreshAccessToken();
    expect(viaLibrary.credentials.refresh_token).toBe(tokens.refresh_token);

    await fetch(`${sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'google', kind: 'invalid_grant', path: '^/google/token$', times: 1 }),
    });
    const faulted = await token(sandbox, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(faulted.status).toBe(400);
    expect(((await faulted.json()) as { error: string }).error).toBe('invalid_grant');

    await fetch(`${sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'google', kind: 'status', status: 503, path: '^/google/revoke$', times: 1 }),
    });
    const failedRevoke = await fetch(`${sandbox.url}/google/revoke?token=${encodeURIComponent(tokens.refresh_token!)}`, { method: 'POST' });
    expect(failedRevoke.status).toBe(503);

    await client.revokeToken(viaLibrary.credentials.access_token!);
    const afterRevoke = await token(sandbox, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(afterRevoke.status).toBe(400);
    const userinfo = await fetch(`${sandbox.url}/google/v1/userinfo`, { headers: { authorization: `Bearer ${viaLibrary.credentials.access_token}` } });
    expect(userinfo.status).toBe(401);
  });

  it('shows an account picker without login_hint whose links complete the flow', async () => {
    const url = new URL(`${sandbox.url}/google/o/oauth2/v2/auth`);
    for (const [k, v] of Object.entries({
      client_id: clientId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      state: 's1',
      scope: 'openid email',
      hd: 'hartmann-law.example',
    })) {
      url.searchParams.set(k, v);
    }
    const page = await (await fetch(url)).text();
    expect(page).toContain('Choose an account');
    expect(page).toContain('alice@hartmann-law.example');
    expect(page).not.toContain('carol@gmail.example'); // filtered by hd
    const href = /href="([^"]+)" data-email="bob@hartmann-law.example"/.exec(page)![1]!.replaceAll('&amp;', '&');
    const res = await fetch(new URL(href, sandbox.url), { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('state')).toBe('s1');
    expect(location.searchParams.get('code')).toBeTruthy();
  });

  it('breaks the next ID token on request (test knob), once', async () => {
    await fetch(`${sandbox.url}/_sandbox/google/id-token-overrides`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ alg: 'none', emailVerified: false }),
    });
    const decode = (jwt: string) =>
      jwt
        .split('.')
        .slice(0, 2)
        .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    const a = await authorize(sandbox, { scope: 'openid email', login_hint: 'alice@hartmann-law.example' });
    const broken = (await (await token(sandbox, { grant_type: 'authorization_code', code: a.code, redirect_uri: REDIRECT })).json()) as { id_token: string };
    const [header, claims] = decode(broken.id_token);
    expect(header.alg).toBe('none');
    expect(claims.email_verified).toBe(false);
    const b = await authorize(sandbox, { scope: 'openid email', login_hint: 'alice@hartmann-law.example' });
    const good = (await (await token(sandbox, { grant_type: 'authorization_code', code: b.code, redirect_uri: REDIRECT })).json()) as { id_token: string };
    expect(decode(good.id_token)[0].alg).toBe('RS256');
  });
});
