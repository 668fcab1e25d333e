import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { Config } from '../../src/config/load.ts';
import { type OAuthClient, OAuthTokenError, type TokenSet } from '../../src/connections/oauth-types.ts';
import { isPrivateAddress } from '../../src/security/private-addresses.ts';
import { createProviderHttpClient, type ProviderHttpClient, ProviderRequestError, parseRetryAfter } from '../../src/transfers/clients/http.ts';
import { networkFailureOf } from '../../src/transfers/errors.ts';
import { beforeProviderRequest } from '../../src/transfers/gate-scope.ts';
import type { ImanageSettings } from './manifest.ts';

/**
 * The only place iManage Work HTTP requests are built. JSON calls use the generic gated client with
 * the `X-Auth-Token` header; uploads stream a multipart body (profile JSON + file) straight from the
 * blob store, so no document is ever whole in memory. Every library call must run inside an
 * outbound-gate `perform`. The server is the firm's own: its address is checked before every use
 * (https and a public address, unless IMANAGE_ALLOW_PRIVATE_HOSTS for the sandbox).
 */

export { ProviderRequestError as ImanageHttpError };

/** The sandbox's public test registration (used only when SANDBOX_URL is set and no client is configured). */
const SANDBOX_CLIENT = { clientId: 'sandbox-imanage-client', clientSecret: 'sandbox-imanage-secret' };

/** Configured client credentials; `not_configured` otherwise (the API answers 503 before writing anything). */
export function imanageCredentials(config: Config): { clientId: string; clientSecret: string } {
  if (config.IMANAGE_CLIENT_ID && config.IMANAGE_CLIENT_SECRET) return { clientId: config.IMANAGE_CLIENT_ID, clientSecret: config.IMANAGE_CLIENT_SECRET };
  if (config.SANDBOX_URL) return SANDBOX_CLIENT;
  throw new OAuthTokenError('not_configured', null, 'iManage is not configured: set IMANAGE_CLIENT_ID and IMANAGE_CLIENT_SECRET');
}

/**
 * Whether the firm's server may be contacted: https (http only with the private-hosts flag), no
 * credentials, query or fragment in the URL, and every address the name resolves to public. A
 * refusal names the rule broken, never anything secret.
 */
export async function checkImanageHost(
  config: Pick<Config, 'IMANAGE_ALLOW_PRIVATE_HOSTS'>,
  host: string,
  resolve: (name: string) => Promise<string[]> = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address),
): Promise<{ code: string; message: string } | null> {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    return { code: 'invalid_host', message: 'the iManage server must be a URL such as https://imanage.example.com' };
  }
  const allowPrivate = config.IMANAGE_ALLOW_PRIVATE_HOSTS;
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    return { code: 'host_not_https', message: 'the iManage server must be reached over https' };
  }
  if (url.username || url.password || url.search || url.hash) {
    return { code: 'invalid_host', message: 'the iManage server URL must not carry credentials, a query or a fragment' };
  }
  if (allowPrivate) return null;
  const name = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(name) ? [name] : await resolve(name);
  } catch {
    return { code: 'host_unresolvable', message: `the iManage server ${url.hostname} could not be found` };
  }
  if (!addresses.length || addresses.some(isPrivateAddress)) {
    return { code: 'host_not_allowed', message: `the iManage server ${url.hostname} resolves to a private or local address, which is not allowed` };
  }
  return null;
}

const systemResolve = async (name: string) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Checks the firm's server (see `checkImanageHost`) and returns the address its calls are pinned
 * to: the one the check resolved (an IP literal as is). Later calls of that client use only this
 * address, so a name re-resolving elsewhere between the check and a request (DNS rebinding) is not
 * followed. With IMANAGE_ALLOW_PRIVATE_HOSTS the name is still resolved once and pinned.
 */
export async function pinImanageHost(
  config: Pick<Config, 'IMANAGE_ALLOW_PRIVATE_HOSTS'>,
  host: string,
  resolve: (name: string) => Promise<string[]> = systemResolve,
): Promise<{ refused: { code: string; message: string } } | { pin: { address: string; family: 4 | 6 } }> {
  let seen: string[] | null = null;
  const refused = await checkImanageHost(config, host, async (name) => {
    seen = await resolve(name);
    return seen;
  });
  if (refused) return { refused };
  const url = new URL(host);
  const name = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[] = isIP(name) ? [name] : (seen ?? []);
  if (!addresses.length) addresses = await resolve(name).catch(() => []);
  const address = addresses[0];
  if (!address) return { refused: { code: 'host_unresolvable', message: `the iManage server ${url.hostname} could not be found` } };
  return { pin: { address, family: isIP(address) === 6 ? 6 : 4 } };
}

/** A fetch pinned to the checked address of the firm's server; throws `host_not_allowed` when refused. */
async function pinnedFetchFor(config: Pick<Config, 'IMANAGE_ALLOW_PRIVATE_HOSTS'>, host: string, resolve?: (name: string) => Promise<string[]>) {
  const r = await pinImanageHost(config, host, resolve);
  if ('refused' in r) throw new OAuthTokenError('host_not_allowed', null, r.refused.message);
  return pinnedFetch(r.pin);
}

/**
 * A `fetch` that connects to one address resolved beforehand, whatever the URL's host name resolves
 * to at request time: the firm's server is checked (public address) when resolved, and the calls
 * then go to exactly that address, so a name that re-resolves to an internal address afterwards (DNS
 * rebinding) reaches nothing new. TLS still verifies the certificate against the host name (SNI and
 * checks use the URL's name; only the address lookup is replaced). Redirects are never followed
 * (answered as they are, like `redirect: 'error'` callers expect to refuse them). Errors look like
 * fetch's (`TypeError('fetch failed')` with the socket error as cause; a timeout is the signal's
 * reason), so callers classify them the same way.
 */
export function pinnedFetch(pin: { address: string; family: 4 | 6 }): typeof fetch {
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [pin]);
    else callback(null, pin.address, pin.family);
  };
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const body = init.body;
    return new Promise<Response>((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, { method: init.method ?? 'GET', headers, lookup, signal }, (res) => {
        const status = res.statusCode ?? 0;
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
        const empty = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
        if (empty) res.resume();
        resolve(
          new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? '', headers: out }),
        );
      });
      req.on('error', (err) => reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err })));
      if (body === undefined || body === null) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else if (body instanceof ReadableStream) {
        Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>)
          .on('error', (err) => req.destroy(err))
          .pipe(req);
      } else req.end(String(body));
    });
  }) as typeof fetch;
}

/** The server's base URL without a trailing slash. */
export function hostOf(settings: Record<string, unknown>): string {
  const host = (settings as unknown as ImanageSettings).host;
  if (typeof host !== 'string' || !host) throw new OAuthTokenError('not_configured', null, 'the connection names no iManage server');
  return host.replace(/\/+$/, '');
}

async function tokenRequest(config: Config, settings: Record<string, unknown>, params: Record<string, string>, client?: OAuthClient | null): Promise<TokenSet> {
  const pinned = await pinnedFetchFor(config, hostOf(settings));
  // The firm's own registration when it has one; the deployment's otherwise.
  const { clientId, clientSecret } = client ?? imanageCredentials(config);
  let res: Response;
  try {
    res = await pinned(`${hostOf(settings)}/auth/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ ...params, client_id: clientId, client_secret: clientSecret }),
      signal: AbortSignal.timeout(30_000),
      redirect: 'error',
    });
  } catch {
    throw new OAuthTokenError('network_error', null, 'the iManage token endpoint could not be reached');
  }
  const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!res.ok || typeof body?.access_token !== 'string') {
    const code = typeof body?.error === 'string' ? body.error : `http_${res.status}`;
    throw new OAuthTokenError(code, res.status, `iManage token endpoint answered ${res.status} (${code})`);
  }
  return {
    accessToken: body.access_token,
    refreshToken: typeof body.refresh_token === 'string' ? body.refresh_token : null,
    expiresAt: typeof body.expires_in === 'number' ? Date.now() + body.expires_in * 1000 : null,
    scope: typeof body.scope === 'string' ? body.scope : null,
  };
}

/** Exchanges an authorization code at `{host}/auth/oauth2/token` (iManage ignores PKCE; the verifier is harmless). */
export function exchangeImanageCode(
  config: Config,
  params: { code: string; codeVerifier: string; redirectUri: string; settings?: Record<string, unknown>; client?: OAuthClient | null },
): Promise<TokenSet> {
  return tokenRequest(config, params.settings ?? {}, { grant_type: 'authorization_code', code: params.code, redirect_uri: params.redirectUri }, params.client);
}

/** Refreshes; `invalid_grant` (refresh tokens disabled on the server or expired) means the admin must reconnect. */
export function refreshImanageToken(
  config: Config,
  params: { refreshToken: string; settings?: Record<string, unknown>; client?: OAuthClient | null },
): Promise<TokenSet> {
  return tokenRequest(config, params.settings ?? {}, { grant_type: 'refresh_token', refresh_token: params.refreshToken }, params.client);
}

/** A discovered server: customer id and library aliases (`GET {host}/api`). */
export interface ImanageDiscovery {
  customerId: string;
  account: string | null;
  libraries: string[];
}

/** A document as the v2 API answers it (the members Casebridge reads). */
export interface ImanageDocument {
  id: string;
  document_number?: number;
  version?: number;
  name?: string;
  workspace_id?: string;
  [field: string]: unknown;
}

export interface ImanageContainer {
  id: string;
  name: string;
  custom1?: string;
  custom2?: string;
}

/** One multipart upload: the profile, and the file as a stream of known length. */
export interface ImanageUpload {
  profile: Record<string, unknown>;
  fileName: string;
  contentType: string;
  size: number;
  content: AsyncIterable<Uint8Array>;
}

/** What an upload answered: the document and the fields iManage ignored. */
export interface ImanageUploadResult {
  document: ImanageDocument;
  warnings: Array<{ field: string; error: string }>;
  status: number;
  bytesSent: number;
}

const TIMEOUT_MS = 30_000;

function parseJson(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}
/** Uploads: long enough for a large file over a slow link; the body streams, so this bounds a stall. */
const UPLOAD_TIMEOUT_MS = 15 * 60_000;

/** The v2 operations the connector uses; each must be called inside a gate `perform`. */
export function openImanage(params: {
  config: Config;
  settings: Record<string, unknown>;
  accessToken: string;
  /** Name resolution (tests); the system resolver by default. */
  resolve?: (name: string) => Promise<string[]>;
}) {
  const host = hostOf(params.settings);
  const s = params.settings as unknown as ImanageSettings;
  const authorize = async () => ({ 'x-auth-token': params.accessToken });
  /** Every call of this client goes to the address checked once (DNS rebinding is not followed). */
  let pinned: typeof fetch | null = null;
  const pinnedOrGlobal: typeof fetch = (input, init) => (pinned ?? fetch)(input, init);
  const root: ProviderHttpClient = createProviderHttpClient({ name: 'imanage', baseUrl: host, authorize, timeoutMs: TIMEOUT_MS, fetch: pinnedOrGlobal });
  const libraryPath = () => {
    if (s.customerId === undefined || !s.libraryId) throw new Error('iManage library not chosen yet');
    return `work/api/v2/customers/${encodeURIComponent(String(s.customerId))}/libraries/${encodeURIComponent(s.libraryId)}`;
  };
  const enc = encodeURIComponent;
  /** The host is checked and pinned once per client (a name that now resolves to a private address is refused). */
  const ensureHost = async () => {
    if (pinned) return;
    const r = await pinImanageHost(params.config, host, params.resolve);
    if ('refused' in r) throw new ProviderRequestError(null, r.refused.message, null, null, 'connection_failed');
    pinned = pinnedFetch(r.pin);
  };
  const json = async <T>(req: Parameters<ProviderHttpClient['request']>[0]) => {
    await ensureHost();
    const r = await root.request<{ data: T; warnings?: Array<{ field: string; error: string }> }>(req);
    return { data: r.body?.data as T, status: r.status, warnings: r.body?.warnings ?? [], bytesSent: r.bytesSent };
  };

  /** Streams `profile` + `file` as multipart/form-data; the file is read chunk by chunk from `content`. */
  const upload = async (path: string, u: ImanageUpload): Promise<ImanageUploadResult> => {
    await beforeProviderRequest('imanage upload');
    await ensureHost();
    const boundary = `----casebridge${randomBytes(12).toString('hex')}`;
    const safeName = u.fileName.replace(/["\r\n\\]/g, '_');
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="profile"\r\nContent-Type: application/json\r\n\r\n` +
        `${JSON.stringify({ doc_profile: u.profile, warnings_for_required_and_disabled_fields: true })}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: ${u.contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    let sent = 0;
    async function* body(): AsyncGenerator<Uint8Array> {
      yield head;
      for await (const chunk of u.content) {
        sent += chunk.byteLength;
        yield chunk;
      }
      if (sent !== u.size) throw new Error(`the stored file has ${sent} bytes, ${u.size} expected`);
      yield tail;
    }
    const url = `${host}/${libraryPath()}/${path}`;
    let res: Response;
    try {
      res = await pinnedOrGlobal(url, {
        method: 'POST',
        headers: {
          accept: 'application/json',
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + u.size + tail.length),
          ...(await authorize()),
        },
        body: ReadableStream.from(body()),
        duplex: 'half',
        signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS),
        redirect: 'error',
      } as RequestInit & { duplex: 'half' });
    } catch (err) {
      const network = networkFailureOf(err) ?? (sent === 0 ? 'connection_failed' : 'connection_lost');
      throw new ProviderRequestError(null, `imanage: upload to ${new URL(url).pathname} got no answer (${network})`, null, null, network);
    }
    const text = await res.text();
    const parsed = parseJson(text) as { data?: ImanageDocument; warnings?: Array<{ field: string; error: string }>; error?: unknown } | null;
    if (!res.ok) {
      throw new ProviderRequestError(
        res.status,
        `imanage: upload to ${new URL(url).pathname} answered ${res.status}`,
        parseRetryAfter(res.headers.get('retry-after')),
        parsed,
      );
    }
    if (!parsed?.data?.id) throw new ProviderRequestError(res.status, 'imanage: upload answered without a document id', null, parsed);
    return { document: parsed.data, warnings: parsed.warnings ?? [], status: res.status, bytesSent: head.length + sent + tail.length };
  };

  return {
    /** `GET {host}/api`: customer id and libraries. */
    async discover(): Promise<ImanageDiscovery & { status: number }> {
      const r = await json<{ user?: { customer_id?: unknown; email?: unknown }; work?: { libraries?: Array<{ alias?: unknown }> } }>({
        method: 'GET',
        path: 'api',
      });
      const customerId = r.data?.user?.customer_id;
      if (customerId === undefined || customerId === null) throw new ProviderRequestError(r.status, 'imanage: discovery named no customer id', null, null);
      return {
        customerId: String(customerId),
        account: typeof r.data?.user?.email === 'string' ? r.data.user.email.toLowerCase() : null,
        libraries: (r.data?.work?.libraries ?? []).flatMap((l) => (typeof l.alias === 'string' ? [l.alias] : [])),
        status: r.status,
      };
    },
    findWorkspaces(q: { custom1: string; custom2: string }) {
      return json<ImanageContainer[]>({ method: 'GET', path: `${libraryPath()}/workspaces`, query: q });
    },
    createWorkspace(body: { name: string; custom1: string; custom2: string; template_id?: string }) {
      return json<ImanageContainer>({ method: 'POST', path: `${libraryPath()}/workspaces`, body });
    },
    children(containerId: string, kind: 'workspace' | 'folder') {
      return json<ImanageContainer[]>({ method: 'GET', path: `${libraryPath()}/${kind}s/${enc(containerId)}/children` });
    },
    createFolder(workspaceId: string, name: string) {
      return json<ImanageContainer>({ method: 'POST', path: `${libraryPath()}/workspaces/${enc(workspaceId)}/folders`, body: { name } });
    },
    uploadDocument: (folderId: string, u: ImanageUpload) => upload(`folders/${enc(folderId)}/documents`, u),
    uploadVersion: (documentId: string, u: ImanageUpload) => upload(`documents/${enc(documentId)}/versions`, u),
    updateProfile(documentId: string, profile: Record<string, unknown>) {
      return json<ImanageDocument>({ method: 'PATCH', path: `${libraryPath()}/documents/${enc(documentId)}`, body: profile });
    },
    searchDocuments(filters: Record<string, string>) {
      return json<ImanageDocument[]>({ method: 'POST', path: `${libraryPath()}/documents/search`, body: { filters } });
    },
    /** `DELETE /documents/{id}`: removes the document (all versions) — only under the `delete` policy. */
    deleteDocument(documentId: string) {
      return json<unknown>({ method: 'DELETE', path: `${libraryPath()}/documents/${enc(documentId)}` });
    },
    getDocument(documentId: string) {
      return json<ImanageDocument>({ method: 'GET', path: `${libraryPath()}/documents/${enc(documentId)}` });
    },
  };
}

/**
 * `GET {host}/auth/logout`: ends the session the token belongs to (iManage's provider-side revoke).
 * Not a gated transfer: it carries only the token, and runs when the connection is already revoked.
 */
export async function logoutImanage(config: Config, params: { settings: Record<string, unknown>; accessToken: string }): Promise<{ status: number }> {
  const host = hostOf(params.settings);
  const pinned = await pinnedFetchFor(config, host);
  const res = await pinned(`${host}/auth/logout`, {
    headers: { 'x-auth-token': params.accessToken, accept: 'application/json' },
    signal: AbortSignal.timeout(TIMEOUT_MS),
    redirect: 'error',
  });
  await res.body?.cancel();
  return { status: res.status };
}

export type ImanageApi = ReturnType<typeof openImanage>;
