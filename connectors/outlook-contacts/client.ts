import { Client, type Context, HTTPMessageHandler, type Middleware } from '@microsoft/microsoft-graph-client';
import type { Config } from '../../src/config/load.ts';
import { OAuthTokenError, type TokenSet } from '../../src/connections/oauth-types.ts';
import { parseRetryAfter } from '../../src/transfers/clients/http.ts';
import { type NetworkFailure, networkFailureOf } from '../../src/transfers/errors.ts';
import { assertInsideGate, beforeProviderRequest } from '../../src/transfers/gate-scope.ts';

/**
 * The gated Microsoft Graph client: the ONLY module that imports `@microsoft/microsoft-graph-client`.
 * The client runs OUR middleware chain — an auth middleware that sets the bearer token from the
 * connection's (refreshed, single-flight) token accessor on every request, then the library's
 * `HTTPMessageHandler`. Not the library's default chain: its AuthenticationHandler only attaches
 * the token to https hosts it knows (so the sandbox would get none), and its RetryHandler retries
 * 429/503 on its own (retries belong to the queue). Every request asserts it runs inside an
 * outbound-gate `perform`, and links from Graph (`@odata.nextLink`, `@odata.deltaLink`) are only
 * followed on the configured Graph origin.
 *
 * The identity platform's token endpoint (code exchange, refresh) carries no case data and is not a
 * transfer: plain functions here, so `src/connections/` never touches a provider.
 */

const REQUEST_TIMEOUT_MS = 30_000;
const GRAPH_VERSION = 'v1.0';

/** Where the identity platform and Graph are for this deployment. */
export function microsoftEndpoints(config: Config): { authority: string; graphBase: string } {
  const sandbox = config.SANDBOX_URL?.replace(/\/$/, '');
  const authorityBase = (config.MICROSOFT_AUTHORITY_URL ?? (sandbox ? `${sandbox}/microsoft/login` : 'https://login.microsoftonline.com')).replace(/\/$/, '');
  const graphBase = (config.GRAPH_BASE_URL ?? (sandbox ? `${sandbox}/microsoft/graph` : 'https://graph.microsoft.com')).replace(/\/$/, '');
  return { authority: `${authorityBase}/${config.MICROSOFT_TENANT}/oauth2/v2.0`, graphBase };
}

/** The sandbox's app registration (only when SANDBOX_URL is set and no client is configured). */
const SANDBOX_CLIENT = { clientId: '00000000-0000-4000-8000-00000000cb01', clientSecret: 'casebridge-sandbox-microsoft-secret' };

function credentials(config: Config): { clientId: string; clientSecret: string } {
  if (config.MICROSOFT_CLIENT_ID && config.MICROSOFT_CLIENT_SECRET) {
    return { clientId: config.MICROSOFT_CLIENT_ID, clientSecret: config.MICROSOFT_CLIENT_SECRET };
  }
  if (config.SANDBOX_URL && !config.MICROSOFT_CLIENT_ID) return SANDBOX_CLIENT;
  throw new OAuthTokenError('not_configured', null, 'Outlook is not configured: set MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET');
}

export function microsoftClientId(config: Config): string {
  return credentials(config).clientId;
}

export function microsoftAuthorizationEndpoint(config: Config): string {
  return `${microsoftEndpoints(config).authority}/authorize`;
}

/** A Graph failure in plain terms the error classifier understands (never carries our headers). */
export class GraphRequestError extends Error {
  readonly code = 'graph_request_failed';
  constructor(
    /** HTTP status, or null without an answer. */
    readonly status: number | null,
    /** Graph's `error.code` (`syncStateNotFound`, `InvalidAuthenticationToken`, `MailboxConcurrency`...). */
    readonly graphCode: string | null,
    message: string,
    readonly retryAfterMs: number | null = null,
    readonly network: NetworkFailure | null = null,
  ) {
    super(message);
    this.name = 'GraphRequestError';
  }
}

/** Sets `Authorization: Bearer` on every request, whatever the host (see the module comment). */
class BearerMiddleware implements Middleware {
  private next: Middleware | undefined;
  constructor(private readonly accessToken: () => Promise<string>) {}
  async execute(context: Context): Promise<void> {
    // Every request, the client's retries included: a transfer's later requests need the gate's check.
    await beforeProviderRequest('Microsoft Graph request');
    const headers = new Headers((context.options?.headers as ConstructorParameters<typeof Headers>[0]) ?? {});
    headers.set('Authorization', `Bearer ${await this.accessToken()}`);
    context.options = { ...(context.options ?? {}), headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
    await this.next!.execute(context);
  }
  setNext(next: Middleware): void {
    this.next = next;
  }
}

/** A Graph collection page as delta answers it. */
export interface GraphPage<T> {
  value: T[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

export interface GraphApi {
  /** GET a path relative to the versioned base, or a link Graph handed out (same origin only). */
  get<T>(pathOrLink: string, options?: { query?: Record<string, string>; headers?: Record<string, string> }): Promise<T>;
  post(path: string, body: unknown): Promise<void>;
}

/** Builds the Graph client for one connection. Each call must happen inside a gate `perform`. */
export function openGraph(params: { config: Config; accessToken: () => Promise<string> }): GraphApi {
  const { graphBase } = microsoftEndpoints(params.config);
  const auth = new BearerMiddleware(params.accessToken);
  auth.setNext(new HTTPMessageHandler());
  const client = Client.initWithMiddleware({ middleware: auth, baseUrl: graphBase, defaultVersion: GRAPH_VERSION });
  const versioned = `${graphBase}/${GRAPH_VERSION}/`;

  /** A link from Graph, reduced to a path under our base; a link elsewhere is refused (it would carry our token). */
  const relative = (pathOrLink: string): string => {
    if (!/^https?:\/\//i.test(pathOrLink)) return pathOrLink.replace(/^\//, '');
    if (!pathOrLink.startsWith(versioned)) throw new GraphRequestError(null, null, 'Microsoft Graph handed out a link to another origin; refused');
    return pathOrLink.slice(versioned.length);
  };

  const run = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    assertInsideGate(`Microsoft Graph ${what}`);
    try {
      return await fn();
    } catch (err) {
      throw toGraphError(err);
    }
  };

  return {
    get<T>(pathOrLink: string, options: { query?: Record<string, string>; headers?: Record<string, string> } = {}) {
      return run('GET', async () => {
        let req = client.api(relative(pathOrLink));
        if (options.query) req = req.query(options.query);
        if (options.headers) req = req.headers(options.headers);
        return (await req.get()) as T;
      });
    },
    post(path: string, body: unknown) {
      return run('POST', async () => {
        await client.api(relative(path)).post(body);
      });
    },
  };
}

interface GraphErrorLike {
  statusCode?: number;
  code?: string | null;
  message?: string;
  headers?: Headers;
  body?: unknown;
  name?: string;
  cause?: unknown;
}

/** Turns what the Graph client threw into a {@link GraphRequestError}. */
export function toGraphError(err: unknown): GraphRequestError {
  if (err instanceof GraphRequestError) return err;
  const e = (err ?? {}) as GraphErrorLike;
  const status = typeof e.statusCode === 'number' && e.statusCode > 0 ? e.statusCode : null;
  if (!status) {
    const aborted = [err, e.cause].some((x) => ['AbortError', 'TimeoutError'].includes((x as { name?: string } | null)?.name ?? ''));
    const network = networkFailureOf(err) ?? networkFailureOf(e.cause) ?? (aborted ? 'timeout' : 'connection_lost');
    return new GraphRequestError(null, null, `Microsoft Graph did not answer (${network})`, null, network);
  }
  const code = typeof e.code === 'string' ? e.code : null;
  const retryAfter = e.headers?.get?.('retry-after') ?? null;
  // The message is Graph's own text (no request data, no token).
  return new GraphRequestError(
    status,
    code,
    `Microsoft Graph answered ${status}${code ? ` ${code}` : ''}: ${e.message ?? ''}`.trim(),
    parseRetryAfter(retryAfter),
  );
}

// --- Identity platform token endpoint (not transfers of case data) ------------------------

async function tokenRequest(config: Config, form: Record<string, string>): Promise<TokenSet> {
  const { clientId, clientSecret } = credentials(config);
  let res: Response;
  try {
    res = await fetch(`${microsoftEndpoints(config).authority}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ ...form, client_id: clientId, client_secret: clientSecret }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch {
    throw new OAuthTokenError('network_error', null, 'the token endpoint could not be reached');
  }
  const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!res.ok) {
    const error = typeof body?.error === 'string' ? body.error : `http_${res.status}`;
    const codes = Array.isArray(body?.error_codes) ? (body.error_codes as unknown[]) : [];
    // AADSTS700082 (refresh token expired from inactivity) is an invalid_grant: the user must sign in again.
    const code = codes.includes(700082) ? 'invalid_grant' : error;
    throw new OAuthTokenError(code, res.status, `the token endpoint answered ${res.status} ${error}${codes.length ? ` (AADSTS${String(codes[0])})` : ''}`);
  }
  if (typeof body?.access_token !== 'string') throw new OAuthTokenError('invalid_response', res.status, 'the token endpoint returned no access token');
  return {
    accessToken: body.access_token,
    // Rotation: Microsoft sends a new refresh token with every answer; the vault stores it.
    refreshToken: typeof body.refresh_token === 'string' ? body.refresh_token : null,
    expiresAt: typeof body.expires_in === 'number' ? Date.now() + body.expires_in * 1000 : null,
    scope: typeof body.scope === 'string' ? body.scope : null,
    idToken: typeof body.id_token === 'string' ? body.id_token : null,
  };
}

export function exchangeMicrosoftCode(config: Config, params: { code: string; codeVerifier: string; redirectUri: string }): Promise<TokenSet> {
  return tokenRequest(config, { grant_type: 'authorization_code', code: params.code, code_verifier: params.codeVerifier, redirect_uri: params.redirectUri });
}

export function refreshMicrosoftToken(config: Config, params: { refreshToken: string }): Promise<TokenSet> {
  return tokenRequest(config, { grant_type: 'refresh_token', refresh_token: params.refreshToken });
}
