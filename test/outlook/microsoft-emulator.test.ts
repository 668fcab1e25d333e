import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphRequestError } from '../../connectors/outlook-contacts/client.ts';
import { toFields } from '../../connectors/outlook-contacts/delta.ts';
import { classifyGraphError } from '../../connectors/outlook-contacts/errors.ts';
import { emulators } from '../../sandbox/emulators.ts';
import { SANDBOX_MICROSOFT_CLIENT } from '../../sandbox/microsoft/identity.ts';
import { microsoftStore } from '../../sandbox/microsoft/store.ts';
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

async function authorize(challenge: string | null, loginHint = ACCOUNT): Promise<URL> {
  const url = new URL(`${base()}/authorize`);
  url.search = new URLSearchParams({
    client_id: SANDBOX_MICROSOFT_CLIENT.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid email offline_access Contacts.Read',
    state: 's1',
    login_hint: loginHint,
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

describe('Microsoft emulator: delta rounds', () => {
  const MAILBOX = 'dave@delta-rounds.example';
  const graphUrl = (path: string) => `${sandbox.url}/microsoft/graph/v1.0/${path}`;
  let accessToken = '';
  const get = async <T>(url: string, size = 200): Promise<T> => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}`, prefer: `odata.maxpagesize=${size}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };
  type Page = { value: Array<{ id: string; '@removed'?: unknown }>; '@odata.nextLink'?: string; '@odata.deltaLink'?: string };
  const knob = (path: string, init: { method: string; body?: unknown }) =>
    fetch(`${sandbox.url}/_sandbox/microsoft/mailboxes/${MAILBOX}${path}`, {
      method: init.method,
      headers: { 'content-type': 'application/json' },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });

  beforeAll(async () => {
    // A token for a mailbox of its own (the login hint picks the account).
    await fetch(`${sandbox.url}/_sandbox/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: MAILBOX, name: 'Dave Delta', sub: '300000000000000000042', emailVerified: true }),
    });
    const verifier = randomBytes(32).toString('base64url');
    const code = (await authorize(createHash('sha256').update(verifier).digest('base64url'), MAILBOX)).searchParams.get('code')!;
    accessToken = (
      (await (await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier })).json()) as { access_token: string }
    ).access_token;
  });

  it('reads only the contacts of the page asked for, not every contact of the mailbox', async () => {
    expect((await knob('/seed', { method: 'POST', body: { count: 20_000 } })).status).toBe(201);
    const box = microsoftStore(sandbox.state).mailboxes.get(MAILBOX)!;
    // Counts every contact the emulator reads from the mailbox from now on.
    let reads = 0;
    class CountingMap<K, V> extends Map<K, V> {
      override get(key: K): V | undefined {
        reads += 1;
        return super.get(key);
      }
      override *values(): MapIterator<V> {
        for (const v of super.values()) {
          reads += 1;
          yield v;
        }
      }
      override *entries(): MapIterator<[K, V]> {
        for (const e of super.entries()) {
          reads += 1;
          yield e;
        }
      }
      override [Symbol.iterator]() {
        return this.entries();
      }
    }
    box.contacts = new CountingMap(box.contacts);
    reads = 0;
    const folders = await get<{ value: Array<{ id: string }> }>(graphUrl('me/contactFolders'));
    let page = await get<Page>(graphUrl(`me/contactFolders/${folders.value[1]!.id}/contacts/delta?$select=displayName`), 10);
    expect(page.value).toHaveLength(10);
    page = await get<Page>(page['@odata.nextLink']!, 10);
    expect(page.value).toHaveLength(10);
    // Two pages of 10 (and at most one look-ahead each): not the 20,300 contacts of the mailbox.
    expect(reads).toBeLessThanOrEqual(2 * 11);
  });

  it('a contact changed or deleted and re-created while a round is paged is neither skipped nor reported out of order', async () => {
    const folders = await get<{ value: Array<{ id: string }> }>(graphUrl('me/contactFolders'));
    const folderId = folders.value[2]!.id;
    const ids = async (first: string, size: number) => {
      const seen: string[] = [];
      let url: string | undefined = first;
      let delta = '';
      let changedAfterFirstPage = false;
      while (url) {
        const page: Page = await get<Page>(url, size);
        seen.push(...page.value.map((c) => (c['@removed'] ? `-${c.id}` : c.id)));
        if (!changedAfterFirstPage) {
          changedAfterFirstPage = true;
          // The first contact of the round changes after it was handed out: the pages after it must not shift.
          const firstContact = box().contacts.get(page.value[0]!.id)!;
          expect(
            (await knob('/contacts', { method: 'POST', body: { folderId, id: firstContact.id, givenName: 'Changed', surname: 'Meanwhile' } })).status,
          ).toBe(201);
        }
        url = page['@odata.nextLink'];
        delta = page['@odata.deltaLink'] ?? delta;
      }
      return { seen, delta };
    };
    const box = () => microsoftStore(sandbox.state).mailboxes.get(MAILBOX)!;
    const inFolder = () => [...box().contacts.values()].filter((c) => c.parentFolderId === folderId).length;
    const total = inFolder();
    const round1 = await ids(graphUrl(`me/contactFolders/${folderId}/contacts/delta?$select=displayName`), 200);
    // Every contact of the folder once, the changed one included (it was handed out before it changed).
    expect(new Set(round1.seen).size).toBe(total);
    expect(round1.seen).toHaveLength(total);

    // Deleted, then created again with the same id: the next round says it is there, not removed.
    const again = [...box().contacts.values()].find((c) => c.parentFolderId === folderId && c.givenName !== 'Changed')!;
    expect((await knob(`/contacts/${again.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await knob('/contacts', { method: 'POST', body: { folderId, id: again.id, givenName: 'Back', surname: 'Again' } })).status).toBe(201);
    const round2 = await get<Page>(round1.delta);
    const reported = round2.value.map((c) => (c['@removed'] ? `-${c.id}` : c.id));
    // The contact changed during round 1, and the re-created one, present.
    expect(reported.filter((r) => r.startsWith('-'))).toEqual([]);
    expect(reported).toContain(again.id);
    expect(reported).toHaveLength(2);
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
