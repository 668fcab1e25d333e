import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { applyFaults, tokenFault } from '../faults.ts';
import type { ProviderEmulator, SandboxContext } from '../server.ts';
import type { SandboxAccount, SandboxState } from '../state.ts';
import { resolveGoogleBearer } from './bearer.ts';
import { applyOverride, generateSigningKey, googleCode, type IdTokenOverride, idTokenClaims, publicJwk, type SigningKey, signIdToken } from './id-token.ts';

/**
 * Google's OAuth 2.0 / OpenID Connect endpoints under `/google`: discovery, authorize (with an
 * account picker, or at once with `login_hint`), token (authorization code with PKCE, refresh),
 * JWKS, userinfo, tokeninfo and revoke. openid-client and google-auth-library talk to it unchanged
 * apart from the URLs. Test-only knobs live under `/_sandbox/google/...`.
 *
 * Grants behave as Google's do: one grant per client and account holding the union of the scopes
 * ever granted (incremental authorization with `include_granted_scopes=true`); revoking any token
 * ends the whole grant (every token of that client and account); at most
 * {@link MAX_LIVE_REFRESH_TOKENS} refresh tokens live per client and account (a new one retires the
 * oldest); the redirect carries `iss`; an account may decline scopes on the consent screen
 * (`declineScopes`) or get ID tokens with the legacy issuer form (`legacyIssuer`), see
 * {@link setGoogleAccountOptions}.
 */

/** Google's limit of live refresh tokens per OAuth client and account. */
export const MAX_LIVE_REFRESH_TOKENS = 100;

/** Scopes the consent screen never lets the user untick. */
const IDENTITY_SCOPES = new Set(['openid', 'email', 'profile']);

/** How an account behaves at Google's consent screen and in ID tokens. */
export interface GoogleAccountOptions {
  /** Scopes the user unticks on the consent screen (granular permissions); identity scopes cannot be. */
  declineScopes?: string[];
  /** ID tokens carry the issuer without `https://` (Google's `accounts.google.com` form). */
  legacyIssuer?: boolean;
}

/** An OAuth client the emulator accepts. */
export interface GoogleClientRegistration {
  clientId: string;
  clientSecret: string;
  /** When given, authorize refuses any other redirect URI (as Google does). */
  redirectUris?: string[];
}

/** Options under `SandboxOptions.providers.google`. */
export interface GoogleEmulatorOptions {
  clients?: GoogleClientRegistration[];
}

export const SANDBOX_GOOGLE_CLIENT: GoogleClientRegistration = {
  clientId: 'casebridge-sandbox-client',
  clientSecret: 'casebridge-sandbox-secret',
};

const CODE_TTL_MS = 10 * 60 * 1000;

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  account: string;
  scope: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: 'S256' | 'plain';
  offline: boolean;
  forceConsent: boolean;
  authTime: number;
  expiresAt: number;
  used: boolean;
  /** Token families minted from this code (revoked when the code is replayed). */
  families: string[];
}

export interface GoogleStore {
  codes: Map<string, AuthorizationCode>;
  /** `clientId|account` pairs that already consented to offline access. */
  offlineConsents: Set<string>;
  idTokenOverrides: IdTokenOverride[];
  /** `clientId|account` -> scopes granted so far (the union; dropped when the grant is revoked). */
  grants: Map<string, Set<string>>;
  /** account -> its consent-screen and ID-token behaviour. */
  accountOptions: Map<string, GoogleAccountOptions>;
}

/** The emulator's OAuth state (authorization codes are kept after use, marked `used`). */
export const googleStore = (state: SandboxState): GoogleStore =>
  state.store<GoogleStore>('google-oauth', () => ({
    codes: new Map(),
    offlineConsents: new Set(),
    idTokenOverrides: [],
    grants: new Map(),
    accountOptions: new Map(),
  }));

/** Sets how an account behaves (declined scopes, legacy issuer); replaces earlier options. */
export function setGoogleAccountOptions(state: SandboxState, account: string, options: GoogleAccountOptions): void {
  googleStore(state).accountOptions.set(account.toLowerCase(), options);
}

/**
 * Ends the grant of a client and account, as Google does when any of its tokens is revoked or the
 * user removes the app's access: every token of the pair stops working and the scopes are forgotten.
 */
export function revokeGoogleGrant(state: SandboxState, clientId: string, account: string): void {
  for (const t of state.tokens.values()) {
    if (t.provider === 'google' && t.clientId === clientId && t.account === account) t.revoked = true;
  }
  const store = googleStore(state);
  store.grants.delete(`${clientId}|${account}`);
  store.offlineConsents.delete(`${clientId}|${account}`);
}

/** Retires the oldest live refresh tokens beyond Google's limit (their access tokens with them). */
function enforceRefreshTokenLimit(state: SandboxState, clientId: string, account: string): void {
  const live = [...state.tokens.entries()].filter(
    ([, t]) => t.provider === 'google' && t.kind === 'refresh' && t.clientId === clientId && t.account === account && !t.revoked,
  );
  // Map order is issue order: the first entries are the oldest.
  for (const [token] of live.slice(0, Math.max(0, live.length - MAX_LIVE_REFRESH_TOKENS))) state.revokeFamily(token);
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function errorPage(c: Context, status: 400 | 401, code: string, detail: string): Response {
  return c.html(
    `<!doctype html><html><head><title>Sign in - Google Accounts</title></head><body>` +
      `<h1>Access blocked: authorization error</h1><p>Error ${status}: ${escapeHtml(code)}</p><p>${escapeHtml(detail)}</p></body></html>`,
    status,
  );
}

/** Reads form (or JSON) parameters of a POST, plus the query string. */
async function requestParams(c: Context): Promise<Record<string, string>> {
  const out: Record<string, string> = { ...c.req.query() };
  if (c.req.method !== 'POST') return out;
  const type = c.req.header('content-type') ?? '';
  if (type.includes('application/json')) {
    const body = (await c.req.json().catch(() => ({}))) as Record<string, unknown>;
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  } else {
    const body = new URLSearchParams(await c.req.text());
    for (const [k, v] of body) out[k] = v;
  }
  return out;
}

export const googleOAuthEmulator: ProviderEmulator = (app: Hono, ctx: SandboxContext) => {
  const { state } = ctx;
  const options = (ctx.options.providers?.google ?? {}) as GoogleEmulatorOptions;
  const clients = options.clients?.length ? options.clients : [SANDBOX_GOOGLE_CLIENT];
  // Keys live outside the resettable store: relying parties cache the JWKS.
  const signingKey: SigningKey = generateSigningKey(`sandbox-${randomBytes(4).toString('hex')}`);
  let unknownKey: SigningKey | undefined;
  const issuer = () => `${ctx.origin()}/google`;

  const findClient = (id: string | undefined) => clients.find((cl) => cl.clientId === id);

  const record = (c: Context, account: string | null, status = 200) =>
    state.record({ provider: 'google', account, method: c.req.method, path: c.req.path, status, write: false });

  app.get('/google/.well-known/openid-configuration', async (c) => {
    const fault = await applyFaults(c, state, { provider: 'google', account: null });
    if (fault) return fault;
    const base = issuer();
    record(c, null);
    return c.json({
      issuer: base,
      authorization_endpoint: `${base}/o/oauth2/v2/auth`,
      device_authorization_endpoint: `${base}/device/code`,
      token_endpoint: `${base}/token`,
      userinfo_endpoint: `${base}/v1/userinfo`,
      revocation_endpoint: `${base}/revoke`,
      jwks_uri: `${base}/oauth2/v3/certs`,
      response_types_supported: ['code', 'token', 'id_token', 'code token', 'code id_token', 'token id_token', 'code token id_token', 'none'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email', 'profile'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      claims_supported: ['aud', 'email', 'email_verified', 'exp', 'family_name', 'given_name', 'hd', 'iat', 'iss', 'name', 'nonce', 'picture', 'sub'],
      code_challenge_methods_supported: ['plain', 'S256'],
      grant_types_supported: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
        'urn:ietf:params:oauth:grant-type:jwt-bearer',
      ],
    });
  });

  app.get('/google/oauth2/v3/certs', async (c) => {
    const fault = await applyFaults(c, state, { provider: 'google', account: null });
    if (fault) return fault;
    record(c, null);
    c.header('Cache-Control', 'public, max-age=300');
    return c.json({ keys: [publicJwk(signingKey)] });
  });

  app.get('/google/o/oauth2/v2/auth', (c) => {
    const q = c.req.query();
    const client = findClient(q.client_id);
    if (!client) return errorPage(c, 401, 'invalid_client', 'The OAuth client was not found.');
    const redirectUri = q.redirect_uri;
    if (!redirectUri || !/^https?:\/\//.test(redirectUri) || (client.redirectUris && !client.redirectUris.includes(redirectUri))) {
      return errorPage(c, 400, 'redirect_uri_mismatch', 'The redirect URI in the request does not match the ones authorized for the OAuth client.');
    }
    if (!q.state) return errorPage(c, 400, 'invalid_request', 'Missing required parameter: state');
    const back = (params: Record<string, string>) => {
      const url = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      url.searchParams.set('state', q.state!);
      return c.redirect(url.toString(), 302);
    };
    if (q.response_type !== 'code') return back({ error: 'unsupported_response_type' });
    if (!q.scope?.trim()) return back({ error: 'invalid_request', error_description: 'Missing required parameter: scope' });
    const method = q.code_challenge_method ?? (q.code_challenge ? 'plain' : undefined);
    if (method && method !== 'S256' && method !== 'plain') {
      return back({ error: 'invalid_request', error_description: 'Invalid code_challenge_method' });
    }
    if (q.code_challenge_method && !q.code_challenge) {
      return back({ error: 'invalid_request', error_description: 'Missing code_challenge' });
    }

    const account = q.login_hint ? state.accounts.get(q.login_hint.toLowerCase()) : undefined;
    if (!account) {
      if (q.prompt?.split(' ').includes('none')) return back({ error: 'interaction_required' });
      return accountPicker(c, state, q);
    }
    const email = account.email.toLowerCase();
    const store = googleStore(state);
    // Granular consent: the user may untick any scope but the identity ones.
    const declined = new Set(store.accountOptions.get(email)?.declineScopes ?? []);
    const granted = new Set(
      q.scope
        .trim()
        .split(/\s+/)
        .filter((sc) => IDENTITY_SCOPES.has(sc) || !declined.has(sc)),
    );
    const grantKey = `${client.clientId}|${email}`;
    // Incremental authorization: the answer covers every scope granted earlier and not revoked.
    if (q.include_granted_scopes === 'true') for (const sc of store.grants.get(grantKey) ?? []) granted.add(sc);
    const scope = [...granted].join(' ');
    store.grants.set(grantKey, new Set([...(store.grants.get(grantKey) ?? []), ...granted]));
    const code = googleCode();
    store.codes.set(code, {
      clientId: client.clientId,
      redirectUri,
      account: email,
      scope,
      nonce: q.nonce,
      codeChallenge: q.code_challenge,
      codeChallengeMethod: method as AuthorizationCode['codeChallengeMethod'],
      offline: q.access_type === 'offline',
      forceConsent: (q.prompt ?? '').split(' ').includes('consent'),
      authTime: Math.floor(Date.now() / 1000),
      expiresAt: Date.now() + CODE_TTL_MS,
      used: false,
      families: [],
    });
    record(c, email, 302);
    // Google appends `iss` to the redirect (RFC 9207), always in its https form.
    return back({ code, scope, authuser: '0', prompt: q.prompt || 'none', iss: issuer() });
  });

  app.post('/google/token', async (c) => {
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    const p = await requestParams(c);
    // Client authentication: client_secret_basic or client_secret_post.
    let clientId = p.client_id;
    let clientSecret = p.client_secret;
    const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' '));
      clientSecret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' '));
    }
    const client = findClient(clientId);
    if (!client || !clientSecret || !safeEqual(client.clientSecret, clientSecret)) {
      return c.json({ error: 'invalid_client', error_description: 'The OAuth client was not found.' }, 401);
    }
    const store = googleStore(state);
    const invalidGrant = (description: string) => c.json({ error: 'invalid_grant', error_description: description }, 400);

    if (p.grant_type === 'authorization_code') {
      const code = p.code ? store.codes.get(p.code) : undefined;
      if (!code || Date.now() >= code.expiresAt || code.clientId !== client.clientId) return invalidGrant('Malformed auth code.');
      const req = { provider: 'google' as const, account: code.account, method: c.req.method, path: c.req.path };
      const grantFault = tokenFault(state, req, 'invalid_grant');
      const fault = await applyFaults(c, state, { provider: 'google', account: code.account });
      if (fault) return fault;
      if (code.used) {
        // RFC 6749 §4.1.2: a replayed code revokes what it minted.
        for (const family of code.families) {
          for (const [token, t] of state.tokens) if (t.family === family) state.revokeFamily(token);
        }
        return invalidGrant('Bad Request');
      }
      code.used = true;
      if (p.redirect_uri !== code.redirectUri) return c.json({ error: 'redirect_uri_mismatch', error_description: 'Bad Request' }, 400);
      if (code.codeChallenge) {
        if (!p.code_verifier) return invalidGrant('Missing code verifier.');
        const computed = code.codeChallengeMethod === 'S256' ? createHash('sha256').update(p.code_verifier).digest('base64url') : p.code_verifier;
        if (!safeEqual(computed, code.codeChallenge)) return invalidGrant('Invalid code verifier.');
      }
      if (grantFault) return invalidGrant('Bad Request');
      const family = randomBytes(12).toString('hex');
      code.families.push(family);
      const consentKey = `${client.clientId}|${code.account}`;
      const giveRefresh = code.offline && (code.forceConsent || !store.offlineConsents.has(consentKey));
      if (code.offline) store.offlineConsents.add(consentKey);
      const body: Record<string, unknown> = {
        access_token: state.issueToken({ provider: 'google', account: code.account, clientId: client.clientId, scope: code.scope, kind: 'access', family }),
        expires_in: state.accessTokenTtlSeconds,
        scope: code.scope,
        token_type: 'Bearer',
      };
      if (giveRefresh) {
        body.refresh_token = state.issueToken({
          provider: 'google',
          account: code.account,
          clientId: client.clientId,
          scope: code.scope,
          kind: 'refresh',
          family,
        });
        enforceRefreshTokenLimit(state, client.clientId, code.account);
      }
      if (code.scope.split(/\s+/).includes('openid')) {
        body.id_token = await mintIdToken({ account: code.account, clientId: client.clientId, scope: code.scope, nonce: code.nonce, authTime: code.authTime });
      }
      record(c, code.account);
      return c.json(body);
    }

    if (p.grant_type === 'refresh_token') {
      const t = p.refresh_token ? state.tokens.get(p.refresh_token) : undefined;
      if (t?.provider !== 'google' || t.kind !== 'refresh') return invalidGrant('Bad Request');
      if (t.clientId !== client.clientId) return c.json({ error: 'unauthorized_client', error_description: 'Unauthorized' }, 401);
      const req = { provider: 'google' as const, account: t.account, method: c.req.method, path: c.req.path };
      if (tokenFault(state, req, 'revoke_tokens')) state.revokeFamily(p.refresh_token!);
      const grantFault = tokenFault(state, req, 'invalid_grant');
      const fault = await applyFaults(c, state, { provider: 'google', account: t.account });
      if (fault) return fault;
      if (grantFault || t.revoked || Date.now() >= t.expiresAt) {
        return invalidGrant('Token has been expired or revoked.');
      }
      // Google keeps the refresh token: the answer carries no new one.
      const body: Record<string, unknown> = {
        access_token: state.issueToken({ provider: 'google', account: t.account, clientId: client.clientId, scope: t.scope, kind: 'access', family: t.family }),
        expires_in: state.accessTokenTtlSeconds,
        scope: t.scope,
        token_type: 'Bearer',
      };
      if (t.scope.split(/\s+/).includes('openid')) {
        body.id_token = await mintIdToken({ account: t.account, clientId: client.clientId, scope: t.scope });
      }
      record(c, t.account);
      return c.json(body);
    }
    return c.json({ error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${p.grant_type ?? ''}` }, 400);
  });

  const mintIdToken = async (input: { account: string; clientId: string; scope: string; nonce?: string; authTime?: number }) => {
    const account = state.accounts.get(input.account)!;
    const now = Math.floor(Date.now() / 1000);
    // Some clients get `accounts.google.com` (no scheme) from Google: the same issuer, another spelling.
    const iss = googleStore(state).accountOptions.get(input.account)?.legacyIssuer ? issuer().replace(/^https?:\/\//, '') : issuer();
    let claims = idTokenClaims({ issuer: iss, clientId: input.clientId, account, scope: input.scope, nonce: input.nonce, authTime: input.authTime }, now);
    const overrides = googleStore(state).idTokenOverrides;
    const override = overrides[0];
    if (override) {
      override.times = (override.times ?? 1) - 1;
      if (override.times <= 0) overrides.shift();
      claims = applyOverride(claims, override, now);
    }
    return signIdToken({
      claims,
      key: signingKey,
      unknownKey: () => {
        unknownKey ??= generateSigningKey('sandbox-unknown-key');
        return unknownKey;
      },
      override,
    });
  };

  const userinfo = async (c: Context) => {
    const bearer = resolveGoogleBearer(c, state);
    if (bearer instanceof Response) return bearer;
    const fault = await applyFaults(c, state, { provider: 'google', account: bearer.account });
    if (fault) return fault;
    const account = state.accounts.get(bearer.account);
    if (!account) return c.json({ error: 'invalid_request', error_description: 'Invalid Credentials' }, 401);
    const scopes = new Set(bearer.token.scope.split(/\s+/));
    const body: Record<string, unknown> = { sub: account.sub };
    if (scopes.has('profile')) {
      const [given, ...family] = account.name.split(' ');
      Object.assign(body, {
        name: account.name,
        given_name: given,
        ...(family.length ? { family_name: family.join(' ') } : {}),
        picture: account.picture ?? `https://lh3.googleusercontent.example/a/${account.sub}=s96-c`,
      });
    }
    if (scopes.has('email')) Object.assign(body, { email: account.email, email_verified: account.emailVerified ?? true });
    if (account.hd) body.hd = account.hd;
    record(c, bearer.account);
    return c.json(body);
  };
  app.get('/google/v1/userinfo', userinfo);
  app.post('/google/v1/userinfo', userinfo);
  app.get('/google/oauth2/v3/userinfo', userinfo);

  app.on(['GET', 'POST'], '/google/tokeninfo', async (c) => {
    const p = await requestParams(c);
    const bearerHeader = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const token = p.access_token ?? bearerHeader;
    const t = state.checkAccessToken(token, 'google');
    if (typeof t === 'string') return c.json({ error: 'invalid_token', error_description: 'Invalid Value' }, 400);
    const account = state.accounts.get(t.account);
    record(c, t.account);
    return c.json({
      azp: t.clientId,
      aud: t.clientId,
      sub: account?.sub,
      scope: t.scope,
      exp: String(Math.floor(t.expiresAt / 1000)),
      expires_in: String(Math.max(0, Math.floor((t.expiresAt - Date.now()) / 1000))),
      ...(account ? { email: account.email, email_verified: String(account.emailVerified ?? true) } : {}),
      access_type: 'offline',
    });
  });

  app.post('/google/revoke', async (c) => {
    const p = await requestParams(c);
    const t = p.token ? state.tokens.get(p.token) : undefined;
    const fault = await applyFaults(c, state, { provider: 'google', account: t?.account ?? null });
    if (fault) return fault;
    if (t?.provider !== 'google' || t.revoked) {
      return c.json({ error: 'invalid_token', error_description: 'Token expired or revoked' }, 400);
    }
    // Revoking one token ends the whole grant of this client and account.
    revokeGoogleGrant(state, t.clientId, t.account);
    record(c, t.account);
    return c.json({});
  });

  // --- Test-only knobs (not part of Google's API) ---
  app.post('/_sandbox/google/id-token-overrides', async (c) => {
    const body = (await c.req.json().catch(() => null)) as IdTokenOverride | null;
    if (!body || typeof body !== 'object') return c.json({ error: 'expected a JSON object' }, 400);
    googleStore(state).idTokenOverrides.push({ ...body, times: body.times ?? 1 });
    return c.json({ pending: googleStore(state).idTokenOverrides }, 201);
  });
  app.post('/_sandbox/google/accounts/:email/options', async (c) => {
    const body = (await c.req.json().catch(() => null)) as GoogleAccountOptions | null;
    if (!body || typeof body !== 'object') return c.json({ error: 'expected a JSON object' }, 400);
    setGoogleAccountOptions(state, c.req.param('email'), body);
    return c.body(null, 204);
  });
  /** The user removes the app's access in their Google account settings. */
  app.post('/_sandbox/google/accounts/:email/remove-access', (c) => {
    for (const cl of clients) revokeGoogleGrant(state, cl.clientId, c.req.param('email').toLowerCase());
    return c.body(null, 204);
  });
  app.get('/_sandbox/google/id-token-overrides', (c) => c.json({ pending: googleStore(state).idTokenOverrides }));
  app.delete('/_sandbox/google/id-token-overrides', (c) => {
    googleStore(state).idTokenOverrides = [];
    return c.body(null, 204);
  });
};

/** The account chooser Google shows without `login_hint`: one link per account (filtered by `hd`). */
function accountPicker(c: Context, state: SandboxState, query: Record<string, string>): Response {
  const accounts = [...state.accounts.values()].filter((a: SandboxAccount) => !query.hd || a.hd === query.hd);
  const items = accounts
    .map((a) => {
      const url = new URL(c.req.url);
      url.searchParams.set('login_hint', a.email);
      return `<li><a href="${escapeHtml(url.pathname + url.search)}" data-email="${escapeHtml(a.email)}"><strong>${escapeHtml(a.name)}</strong><br><span>${escapeHtml(a.email)}</span></a></li>`;
    })
    .join('\n');
  return c.html(
    `<!doctype html><html><head><meta charset="utf-8"><title>Sign in - Google Accounts</title>` +
      `<style>body{font-family:sans-serif;max-width:28rem;margin:3rem auto}li{list-style:none;margin:.5rem 0}a{display:block;padding:.75rem;border:1px solid #ccc;border-radius:8px;text-decoration:none;color:#202124}</style></head>` +
      `<body><h1>Choose an account</h1><p>to continue to Casebridge (sandbox)</p><ul>${items}</ul></body></html>`,
  );
}
