import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { applyFaults, tokenFault } from '../faults.ts';
import type { ProviderEmulator, SandboxContext } from '../server.ts';
import type { SandboxState } from '../state.ts';
import { microsoftStore } from './store.ts';

/**
 * The Microsoft identity platform v2 under `/microsoft/login/{tenant}/oauth2/v2.0/...`: authorize
 * (PKCE S256 required, `login_hint` picks the account, else an account list) and token
 * (authorization code, refresh). As Microsoft does, a refresh token is only issued with
 * `offline_access`, it ROTATES on every use (the old one stops working), and failures come as
 * AADSTS errors (`invalid_grant` with `error_codes: [700082]` for an expired refresh token). There
 * is no revocation endpoint.
 */

export interface MicrosoftClientRegistration {
  clientId: string;
  clientSecret: string;
}

export const SANDBOX_MICROSOFT_CLIENT: MicrosoftClientRegistration = {
  clientId: '00000000-0000-4000-8000-00000000cb01',
  clientSecret: 'casebridge-sandbox-microsoft-secret',
};

const CODE_TTL_MS = 10 * 60 * 1000;
const SANDBOX_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The identity platform's error body: `error`, an AADSTS description and its numeric code. */
export function aadError(c: Context, status: 400 | 401, error: string, aadsts: number, description: string): Response {
  return c.json(
    {
      error,
      error_description: `AADSTS${aadsts}: ${description} Trace ID: ${randomBytes(8).toString('hex')}`,
      error_codes: [aadsts],
      timestamp: `${new Date().toISOString().replace('T', ' ').slice(0, 19)}Z`,
      trace_id: randomBytes(16).toString('hex'),
      correlation_id: randomBytes(16).toString('hex'),
    },
    status,
  );
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

/** An ID token (claims readable; signed with a per-process key the sandbox does not publish). */
function idToken(state: SandboxState, account: string, clientId: string, issuer: string, key: Buffer): string {
  const a = state.accounts.get(account);
  const now = Math.floor(Date.now() / 1000);
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = enc({ alg: 'HS256', typ: 'JWT' });
  const body = enc({
    iss: issuer,
    aud: clientId,
    iat: now,
    nbf: now,
    exp: now + 3600,
    tid: SANDBOX_TENANT_ID,
    oid: a?.sub ?? account,
    sub: createHash('sha256').update(`${clientId}:${account}`).digest('base64url'),
    name: a?.name ?? account,
    preferred_username: account,
    email: account,
    ver: '2.0',
  });
  const sig = createHash('sha256')
    .update(Buffer.concat([key, Buffer.from(`${head}.${body}`)]))
    .digest('base64url');
  return `${head}.${body}.${sig}`;
}

async function formParams(c: Context): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(await c.req.text())) out[k] = v;
  return out;
}

export const microsoftIdentityEmulator: ProviderEmulator = (app: Hono, ctx: SandboxContext) => {
  const { state } = ctx;
  const clients = (ctx.options.providers?.microsoft as { clients?: MicrosoftClientRegistration[] } | undefined)?.clients ?? [SANDBOX_MICROSOFT_CLIENT];
  const findClient = (id: string | undefined) => clients.find((cl) => cl.clientId === id);
  const idTokenKey = randomBytes(32);
  const record = (c: Context, account: string | null, status: number) =>
    state.record({ provider: 'microsoft', account, method: c.req.method, path: c.req.path, status, write: false });

  app.get('/microsoft/login/:tenant/oauth2/v2.0/authorize', (c) => {
    const q = c.req.query();
    if (!findClient(q.client_id)) {
      return c.html(`<h1>Sign in</h1><p>AADSTS700016: Application with identifier '${escapeHtml(q.client_id ?? '')}' was not found.</p>`, 400);
    }
    const redirectUri = q.redirect_uri;
    if (!redirectUri || !/^https?:\/\//.test(redirectUri)) return c.html('<p>AADSTS50011: The redirect URI specified in the request does not match.</p>', 400);
    const back = (params: Record<string, string>) => {
      const url = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      if (q.state) url.searchParams.set('state', q.state);
      return c.redirect(url.toString(), 302);
    };
    if (q.response_type !== 'code') return back({ error: 'unsupported_response_type', error_description: 'AADSTS70005: response_type is not supported.' });
    if (!q.code_challenge || q.code_challenge_method !== 'S256') {
      // The sandbox insists on PKCE S256 so a client that forgets it fails here, not in production.
      return back({ error: 'invalid_request', error_description: 'AADSTS9002325: Proof Key for Code Exchange is required.' });
    }
    if (!q.scope?.trim()) return back({ error: 'invalid_request', error_description: "AADSTS900144: The request body must contain the 'scope' parameter." });
    const account = q.login_hint ? state.accounts.get(q.login_hint.toLowerCase()) : undefined;
    if (!account) {
      const items = [...state.accounts.values()]
        .map((a) => {
          const url = new URL(c.req.url);
          url.searchParams.set('login_hint', a.email);
          return `<li><a href="${escapeHtml(url.pathname + url.search)}" data-email="${escapeHtml(a.email)}">${escapeHtml(a.name)} (${escapeHtml(a.email)})</a></li>`;
        })
        .join('');
      return c.html(`<!doctype html><title>Sign in to your account</title><h1>Pick an account</h1><ul>${items}</ul>`);
    }
    const code = `M.C5${randomBytes(24).toString('base64url')}`;
    microsoftStore(state).codes.set(code, {
      clientId: q.client_id!,
      redirectUri,
      account: account.email.toLowerCase(),
      scope: q.scope.trim(),
      codeChallenge: q.code_challenge,
      expiresAt: Date.now() + CODE_TTL_MS,
      used: false,
    });
    record(c, account.email.toLowerCase(), 302);
    return back({ code });
  });

  app.post('/microsoft/login/:tenant/oauth2/v2.0/token', async (c) => {
    c.header('Cache-Control', 'no-store');
    const p = await formParams(c);
    let clientId = p.client_id;
    let clientSecret = p.client_secret;
    const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, i));
      clientSecret = decodeURIComponent(decoded.slice(i + 1));
    }
    const client = findClient(clientId);
    if (!client || !clientSecret || !safeEqual(client.clientSecret, clientSecret)) {
      return aadError(c, 401, 'invalid_client', 7000215, 'Invalid client secret provided.');
    }
    const issuer = `${ctx.origin()}/microsoft/login/${SANDBOX_TENANT_ID}/v2.0`;
    const tokens = (account: string, scope: string, family: string) => {
      const body: Record<string, unknown> = {
        token_type: 'Bearer',
        scope,
        expires_in: state.accessTokenTtlSeconds,
        ext_expires_in: state.accessTokenTtlSeconds,
        access_token: state.issueToken({ provider: 'microsoft', account, clientId: client.clientId, scope, kind: 'access', family }),
      };
      const scopes = scope.split(/\s+/);
      if (scopes.includes('offline_access')) {
        body.refresh_token = state.issueToken({
          provider: 'microsoft',
          account,
          clientId: client.clientId,
          scope,
          kind: 'refresh',
          family,
          ttlSeconds: 90 * 24 * 3600,
        });
      }
      if (scopes.includes('openid')) body.id_token = idToken(state, account, client.clientId, issuer, idTokenKey);
      return body;
    };

    if (p.grant_type === 'authorization_code') {
      const code = p.code ? microsoftStore(state).codes.get(p.code) : undefined;
      if (!code || code.used || Date.now() >= code.expiresAt || code.clientId !== client.clientId) {
        return aadError(c, 400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity.');
      }
      code.used = true;
      if (p.redirect_uri !== code.redirectUri)
        return aadError(c, 400, 'invalid_grant', 70002, 'The redirect URI does not match the one of the authorization request.');
      const computed = p.code_verifier ? createHash('sha256').update(p.code_verifier).digest('base64url') : '';
      if (!safeEqual(computed, code.codeChallenge))
        return aadError(c, 400, 'invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.');
      const fault = await applyFaults(c, state, { provider: 'microsoft', account: code.account });
      if (fault) return fault;
      record(c, code.account, 200);
      return c.json(tokens(code.account, code.scope, randomBytes(12).toString('hex')));
    }

    if (p.grant_type === 'refresh_token') {
      const t = p.refresh_token ? state.tokens.get(p.refresh_token) : undefined;
      if (t?.provider !== 'microsoft' || t.kind !== 'refresh' || t.clientId !== client.clientId) {
        return aadError(c, 400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
      }
      const req = { provider: 'microsoft' as const, account: t.account, method: c.req.method, path: c.req.path };
      const grantFault = tokenFault(state, req, 'invalid_grant');
      const fault = await applyFaults(c, state, { provider: 'microsoft', account: t.account });
      if (fault) return fault;
      if (grantFault || Date.now() >= t.expiresAt) {
        return aadError(
          c,
          400,
          'invalid_grant',
          700082,
          'The refresh token has expired due to inactivity. The token was issued and was inactive for 90.00:00:00.',
        );
      }
      if (t.revoked)
        return aadError(
          c,
          400,
          'invalid_grant',
          70000,
          'The provided value for the input parameter refresh_token is not valid (it was already redeemed or revoked).',
        );
      // Rotation: the redeemed refresh token is spent; the answer carries its successor.
      t.revoked = true;
      record(c, t.account, 200);
      return c.json(tokens(t.account, p.scope?.trim() || t.scope, t.family));
    }
    return aadError(c, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${p.grant_type ?? ''}'.`);
  });
};
