import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphRequestError } from '../../connectors/outlook-contacts/client.ts';
import { toFields } from '../../connectors/outlook-contacts/delta.ts';
import { classifyGraphError } from '../../connectors/outlook-contacts/errors.ts';
import { emulators } from '../../sandbox/emulators.ts';
import { SANDBOX_MICROSOFT_CLIENT } from '../../sandbox/microsoft/identity.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { OAuthTokenError } from '../../src/connections/oauth-types.ts';

/**
 * The Microsoft emulator is as strict as the real identity platform and Graph where the connector
 * depends on it (PKCE, refresh-token rotation, AADSTS errors, Graph's error shape, $batch limits),
 * and the connector's pure pieces classify and minimise what comes back.
 */

let sandbox: Sandbox;
const ACCOUNT = 'carol@gmail.example';
const REDIRECT = 'http://127.0.0.1:9/callback';
const base = () => `${sandbox.url}/microsoft/login/common/oauth2/v2.0`;

beforeAll(async () => {
  sandbox = await startSandbox(emulators, { port: 0 });
});
afterAll(async () => sandbox?.close());

async function authorize(challenge: string | null): Promise<URL> {
  const url = new URL(`${base()}/authorize`);
  url.search = new URLSearchParams({
    client_id: SANDBOX_MICROSOFT_CLIENT.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid email offline_access Contacts.Read',
    state: 's1',
    login_hint: ACCOUNT,
    ...(challenge ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
  }).toString();
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!);
}

const token = (form: Record<string, string>) =>
  fetch(`${base()}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: SANDBOX_MICROSOFT_CLIENT.clientId, client_secret: SANDBOX_MICROSOFT_CLIENT.clientSecret, ...form }),
  });

describe('Microsoft emulator', () => {
  it('refuses an authorization without PKCE', async () => {
    const back = await authorize(null);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/^AADSTS9002325/);
  });

  it('checks the code verifier, and rotates the refresh token on every use', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const code = (await authorize(createHash('sha256').update(verifier).digest('base64url'))).searchParams.get('code')!;
    const wrong = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: 'x'.repeat(43) });
    expect(wrong.status).toBe(400);
    // A code works once, even after a failed attempt.
    const code2 = (await authorize(createHash('sha256').update(verifier).digest('base64url'))).searchParams.get('code')!;
    const ok = await token({ grant_type: 'authorization_code', code: code2, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(ok.status).toBe(200);
    const first = (await ok.json()) as { refresh_token: string; access_token: string };
    const r1 = (await (await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token })).json()) as { refresh_token: string };
    expect(r1.refresh_token).toBeTruthy();
    expect(r1.refresh_token).not.toBe(first.refresh_token);
    const reused = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(reused.status).toBe(400);
    const body = (await reused.json()) as { error: string; error_codes: number[] };
    expect(body.error).toBe('invalid_grant');
    // Graph answers in its own error shape, innerError included.
    const graph = await fetch(`${sandbox.url}/microsoft/graph/v1.0/me/contactFolders`, { headers: { authorization: 'Bearer nope' } });
    expect(graph.status).toBe(401);
    const err = (await graph.json()) as { error: { code: string; innerError: Record<string, string> } };
    expect(err.error.code).toBe('InvalidAuthenticationToken');
    expect(err.error.innerError['request-id']).toBeTruthy();
    // $batch takes at most 20 requests.
    const batch = await fetch(`${sandbox.url}/microsoft/graph/v1.0/$batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${first.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: '/me' })) }),
    });
    expect(batch.status).toBe(400);
  });
});

describe('Microsoft emulator: delta page size', () => {
  it('honours Prefer: odata.maxpagesize on every request up to Graph\u2019s cap of 200 for contacts, and says what it applied', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const code = (await authorize(createHash('sha256').update(verifier).digest('base64url'))).searchParams.get('code')!;
    const { access_token } = (await (await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier })).json()) as {
      access_token: string;
    };
    await fetch(`${sandbox.url}/_sandbox/microsoft/mailboxes/${ACCOUNT}/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 600 }),
    });
    const get = (url: string, size: number | null) =>
      fetch(url, { headers: { authorization: `Bearer ${access_token}`, ...(size ? { prefer: `odata.maxpagesize=${size}` } : {}) } });
    const folders = (await (await get(`${sandbox.url}/microsoft/graph/v1.0/me/contactFolders`, null)).json()) as { value: Array<{ id: string }> };
    const first = await get(`${sandbox.url}/microsoft/graph/v1.0/me/contactFolders/${folders.value[0]!.id}/contacts/delta?$select=displayName`, 1000);
    expect(first.headers.get('preference-applied')).toBe('odata.maxpagesize=200');
    const page = (await first.json()) as { value: unknown[]; '@odata.nextLink': string };
    expect(page.value).toHaveLength(200);
    // The next link is read with the size asked for on that request (Graph's default, 10, without one).
    const next = await get(page['@odata.nextLink'], 50);
    expect(((await next.json()) as { value: unknown[] }).value).toHaveLength(50);
  });
});

describe('Outlook contacts pure pieces', () => {
  it('keeps only the minimised fields of a contact, addresses lower-cased and unique', () => {
    const fields = toFields({
      id: 'x',
      displayName: ' Ann Lee ',
      emailAddresses: [{ address: 'Ann@Example.com' }, { address: 'ann@example.com' }],
      companyName: 'Lee LLP',
      jobTitle: null,
      businessPhones: ['+1 1'],
      mobilePhone: '+1 2',
      personalNotes: 'secret',
    } as Parameters<typeof toFields>[0]);
    expect(fields).toEqual({ name: 'Ann Lee', emails: ['ann@example.com'], company: 'Lee LLP', jobTitle: null, phones: ['+1 1', '+1 2'] });
  });

  it('classifies throttling, an expired sync state, an expired token and a refused grant', () => {
    expect(classifyGraphError(new GraphRequestError(429, 'MailboxConcurrency', 'x', 2000))).toMatchObject({ kind: 'rate_limited', retryAfterMs: 2000 });
    expect(classifyGraphError(new GraphRequestError(401, 'InvalidAuthenticationToken', 'x'))).toMatchObject({ kind: 'auth_failed', reauthRequired: false });
    expect(classifyGraphError(new OAuthTokenError('invalid_grant', 400, 'x'))).toMatchObject({ kind: 'auth_failed', reauthRequired: true });
    expect(classifyGraphError(new GraphRequestError(null, null, 'x', null, 'timeout'))).toMatchObject({ kind: 'transient' });
  });
});
