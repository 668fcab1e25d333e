import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { OAuthTokenError, type TokenSet } from '../../src/connections/oauth-types.ts';
import type { Config } from '../../src/config/load.ts';
import { createProviderHttpClient, parseRetryAfter, ProviderRequestError, type ProviderHttpClient } from '../../src/transfers/clients/http.ts';
import { networkFailureOf } from '../../src/transfers/errors.ts';
import { assertInsideGate } from '../../src/transfers/gate-scope.ts';
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

/** Addresses a user-chosen host must not resolve to: loopback, private, link-local, CGNAT, multicast, unspecified. */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is the IPv4 address it maps (a BlockList subnet
  // ::ffff:0:0/96 would match every IPv4 address).
  const mapped = /^::ffff:(?:0:)?((?:\d{1,3}\.){3}\d{1,3})$/i.exec(address)?.[1];
  if (mapped) return PRIVATE.check(mapped, 'ipv4');
  if (/^::ffff:(?:0:)?[0-9a-f]{1,4}:[0-9a-f]{1,4}$/i.test(address)) return true; // mapped, written in hex: refuse rather than decode
  return PRIVATE.check(address, family === 6 ? 'ipv6' : 'ipv4');
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

/** The server's base URL without a trailing slash. */
export function hostOf(settings: Record<string, unknown>): string {
  const host = (settings as unknown as ImanageSettings).host;
  if (typeof host !== 'string' || !host) throw new OAuthTokenError('not_configured', null, 'the connection names no iManage server');
  return host.replace(/\/+$/, '');
}

async function tokenRequest(config: Config, settings: Record<string, unknown>, params: Record<string, string>): Promise<TokenSet> {
  const refused = await checkImanageHost(config, hostOf(settings));
  if (refused) throw new OAuthTokenError('host_not_allowed', null, refused.message);
  const { clientId, clientSecret } = imanageCredentials(config);
  let res: Response;
  try {
    res = await fetch(`${hostOf(settings)}/auth/oauth2/token`, {
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
  params: { code: string; codeVerifier: string; redirectUri: string; settings?: Record<string, unknown> },
): Promise<TokenSet> {
  return tokenRequest(config, params.settings ?? {}, { grant_type: 'authorization_code', code: params.code, redirect_uri: params.redirectUri });
}

/** Refreshes; `invalid_grant` (refresh tokens disabled on the server or expired) means the admin must reconnect. */
export function refreshImanageToken(config: Config, params: { refreshToken: string; settings?: Record<string, unknown> }): Promise<TokenSet> {
  return tokenRequest(config, params.settings ?? {}, { grant_type: 'refresh_token', refresh_token: params.refreshToken });
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
export function openImanage(params: { config: Config; settings: Record<string, unknown>; accessToken: string }) {
  const host = hostOf(params.settings);
  const s = params.settings as unknown as ImanageSettings;
  const authorize = async () => ({ 'x-auth-token': params.accessToken });
  const root: ProviderHttpClient = createProviderHttpClient({ name: 'imanage', baseUrl: host, authorize, timeoutMs: TIMEOUT_MS });
  const libraryPath = () => {
    if (s.customerId === undefined || !s.libraryId) throw new Error('iManage library not chosen yet');
    return `work/api/v2/customers/${encodeURIComponent(String(s.customerId))}/libraries/${encodeURIComponent(s.libraryId)}`;
  };
  const enc = encodeURIComponent;
  let hostChecked = false;
  /** The host is re-checked once per client (a name that now resolves to a private address is refused). */
  const ensureHost = async () => {
    if (hostChecked) return;
    const refused = await checkImanageHost(params.config, host);
    if (refused) throw new ProviderRequestError(null, refused.message, null, null, 'connection_failed');
    hostChecked = true;
  };
  const json = async <T>(req: Parameters<ProviderHttpClient['request']>[0]) => {
    await ensureHost();
    const r = await root.request<{ data: T; warnings?: Array<{ field: string; error: string }> }>(req);
    return { data: r.body?.data as T, status: r.status, warnings: r.body?.warnings ?? [], bytesSent: r.bytesSent };
  };

  /** Streams `profile` + `file` as multipart/form-data; the file is read chunk by chunk from `content`. */
  const upload = async (path: string, u: ImanageUpload): Promise<ImanageUploadResult> => {
    assertInsideGate('imanage upload');
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
      res = await fetch(url, {
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
  const refused = await checkImanageHost(config, host);
  if (refused) throw new OAuthTokenError('host_not_allowed', null, refused.message);
  const res = await fetch(`${host}/auth/logout`, {
    headers: { 'x-auth-token': params.accessToken, accept: 'application/json' },
    signal: AbortSignal.timeout(TIMEOUT_MS),
    redirect: 'error',
  });
  await res.body?.cancel();
  return { status: res.status };
}

export type ImanageApi = ReturnType<typeof openImanage>;
