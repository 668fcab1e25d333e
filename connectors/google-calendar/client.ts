import { calendar, type calendar_v3 } from '@googleapis/calendar';
import { OAuth2Client } from 'google-auth-library';
import { googleClientCredentials } from '../../src/auth/oidc-google.ts';
import type { Config } from '../../src/config/load.ts';
import { OAuthTokenError, type TokenSet } from '../../src/connections/oauth-types.ts';
import { type NetworkFailure, networkFailureOf } from '../../src/transfers/errors.ts';
import { beforeProviderRequest } from '../../src/transfers/gate-scope.ts';

/**
 * The gated Google Calendar client: the ONLY module that imports `@googleapis/calendar` and
 * `google-auth-library` for Calendar. Connectors get a {@link GoogleCalendarApi} from
 * {@link openGoogleCalendar} and may only call it inside an outbound-gate `perform` callback (every
 * method asserts it). The official client is used unchanged except for its root URL (the sandbox
 * origin in tests) and with its own retries switched off: retries belong to the queue.
 *
 * Token endpoint calls (code exchange, refresh, revoke) carry no case data and are not transfers;
 * they are plain functions here so that the OAuth plumbing in `src/connections/` never touches an SDK.
 */

/** A provider HTTP failure in plain terms the connector's error classifier understands. */
export class ProviderHttpError extends Error {
  readonly code = 'provider_http_error';
  constructor(
    /** HTTP status, or null for network failures and timeouts. */
    readonly status: number | null,
    /** Google's reason (e.g. `rateLimitExceeded`, `duplicate`, `conditionNotMet`), see {@link googleReason}. */
    readonly reason: string | null,
    message: string,
    /** Parsed `Retry-After`, when the provider sent one. */
    readonly retryAfterMs: number | null = null,
    /** Without an HTTP answer: a timeout, a failed connection or one lost mid-request (see `errors.ts`). */
    readonly network: NetworkFailure | null = null,
  ) {
    super(message);
    this.name = 'ProviderHttpError';
  }
}

/** Reads (listings, GETs) and the token endpoint: a 2,500-event page can take a while. */
const REQUEST_TIMEOUT_MS = 30_000;

function googleEndpoints(config: Config) {
  return {
    oauth2AuthBaseUrl: config.providers.googleAuthUrl,
    oauth2TokenUrl: config.providers.googleTokenUrl,
    oauth2RevokeUrl: config.providers.googleRevokeUrl,
  };
}

/**
 * An OAuth2Client pointed at the configured endpoints, with gaxios retries off and a timeout.
 * Credentials carry no refresh token, so the library never refreshes on its own: refresh is single
 * flight under a Redis lock in `src/connections/token-refresh.ts`.
 */
/** Configured client credentials (the sandbox's own client when only SANDBOX_URL is set). */
export function googleOAuthClientId(config: Config): string {
  return credentials(config).clientId;
}

function credentials(config: Config): { clientId: string; clientSecret: string } {
  const c = googleClientCredentials(config);
  if (!c) throw new OAuthTokenError('not_configured', null, 'Google is not configured: set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET');
  return c;
}

function oauthClient(config: Config): OAuth2Client {
  const { clientId, clientSecret } = credentials(config);
  const client = new OAuth2Client({
    clientId,
    clientSecret,
    endpoints: googleEndpoints(config),
    forceRefreshOnFailure: false,
  });
  client.transporter.interceptors.request.add({
    resolved: async (opts) => {
      opts.retry = false;
      opts.retryConfig = { ...(opts.retryConfig ?? {}), retry: 0, noResponseRetries: 0 };
      opts.timeout ??= REQUEST_TIMEOUT_MS;
      return opts;
    },
  });
  return client;
}

function parseRetryAfter(value: string | null | undefined): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

interface GaxiosLikeError {
  message?: string;
  code?: string | number;
  status?: number;
  response?: { status?: number; data?: unknown; headers?: Headers | Record<string, string> };
}

function header(headers: Headers | Record<string, string> | undefined, name: string): string | null {
  if (!headers) return null;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const rec = headers as Record<string, string>;
  return rec[name] ?? rec[name.toLowerCase()] ?? null;
}

/** Google's error body: the v3 `errors[]` array, and the newer `status` + `details[]` (google.rpc). */
interface GoogleErrorBody {
  message?: string;
  status?: string;
  errors?: Array<{ reason?: string }>;
  details?: Array<{ '@type'?: string; reason?: string }>;
}

/**
 * `details[].reason` (google.rpc.ErrorInfo) and `status` in the v3 names the classifier knows. Some
 * answers carry only these (no `errors` array): without them a quota 403 would look permanent.
 */
const RPC_REASONS: Record<string, string> = {
  RATE_LIMIT_EXCEEDED: 'rateLimitExceeded',
  RESOURCE_EXHAUSTED: 'rateLimitExceeded',
  ACCESS_TOKEN_SCOPE_INSUFFICIENT: 'insufficientPermissions',
  ACCESS_TOKEN_EXPIRED: 'authError',
  UNAUTHENTICATED: 'authError',
  NOT_FOUND: 'notFound',
  ALREADY_EXISTS: 'duplicate',
  FAILED_PRECONDITION: 'conditionNotMet',
  UNAVAILABLE: 'backendError',
  INTERNAL: 'backendError',
};

/** The reason of a Google error body: `errors[0].reason`, else an ErrorInfo reason, else its `status`. */
export function googleReason(body: GoogleErrorBody): string | null {
  const first = body.errors?.find((x) => typeof x.reason === 'string' && x.reason)?.reason;
  if (first) return first;
  for (const d of body.details ?? []) {
    if (typeof d.reason === 'string' && d.reason) return RPC_REASONS[d.reason] ?? d.reason;
  }
  return typeof body.status === 'string' && body.status ? (RPC_REASONS[body.status] ?? body.status) : null;
}

/** Turns a gaxios error into a {@link ProviderHttpError} (never carries the request's headers); `timeoutMs` is the call's. */
export function toProviderError(err: unknown, timeoutMs = REQUEST_TIMEOUT_MS): ProviderHttpError {
  if (err instanceof ProviderHttpError) return err;
  const e = (err ?? {}) as GaxiosLikeError;
  const status = e.response?.status ?? (typeof e.status === 'number' ? e.status : null);
  if (!status) {
    // A timeout is not "could not be reached": the request may have been applied (the gate logs it unknown).
    // gaxios reports its own timeout as an AbortError (we pass no other abort signal).
    const aborted = [err, (err as { cause?: unknown }).cause].some((x) => (x as { name?: unknown } | null)?.name === 'AbortError');
    const network = networkFailureOf(err) ?? (aborted ? 'timeout' : 'connection_lost');
    const what =
      network === 'timeout'
        ? `did not answer within ${timeoutMs / 1000} s (timed out; the request may have been applied)`
        : network === 'connection_failed'
          ? `could not be reached (${typeof e.code === 'string' ? e.code : 'connection failed'}; the request was not sent)`
          : `closed the connection before answering (${typeof e.code === 'string' ? e.code : 'connection lost'}; the request may have been applied)`;
    return new ProviderHttpError(null, null, `Google Calendar ${what}`, null, network);
  }
  const data = e.response?.data as { error?: GoogleErrorBody | string } | undefined;
  const body = typeof data?.error === 'object' ? data.error : undefined;
  const reason = (body ? googleReason(body) : null) ?? (typeof data?.error === 'string' ? data.error : null);
  const message = body?.message ?? e.message ?? `HTTP ${status}`;
  return new ProviderHttpError(
    status,
    reason,
    `Google Calendar answered ${status}${reason ? ` ${reason}` : ''}: ${message}`,
    parseRetryAfter(header(e.response?.headers, 'retry-after')),
  );
}

async function call<T>(
  what: string,
  fn: () => Promise<{ data: T; status: number; headers?: unknown }>,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<{ data: T; status: number }> {
  await beforeProviderRequest(`Google Calendar ${what}`);
  try {
    const res = await fn();
    return { data: res.data, status: res.status };
  } catch (err) {
    throw toProviderError(err, timeoutMs);
  }
}

export type GoogleEvent = calendar_v3.Schema$Event;

export interface ListEventsPage {
  items: GoogleEvent[];
  nextPageToken: string | null;
  nextSyncToken: string | null;
}

/** The Calendar v3 operations connectors use; each call must happen inside a gate `perform`. */
export interface GoogleCalendarApi {
  insertCalendar(body: { summary: string; timeZone?: string; description?: string }): Promise<{ id: string; summary: string; status: number }>;
  getCalendar(calendarId: string): Promise<{ id: string; summary: string; status: number }>;
  patchCalendar(calendarId: string, body: { summary?: string; description?: string }): Promise<{ id: string; status: number }>;
  deleteCalendar(calendarId: string): Promise<{ status: number }>;
  insertEvent(calendarId: string, body: GoogleEvent): Promise<{ event: GoogleEvent; status: number }>;
  patchEvent(calendarId: string, eventId: string, body: GoogleEvent, options?: { etag?: string | null }): Promise<{ event: GoogleEvent; status: number }>;
  getEvent(calendarId: string, eventId: string): Promise<{ event: GoogleEvent; status: number }>;
  deleteEvent(calendarId: string, eventId: string): Promise<{ status: number }>;
  listEvents(
    calendarId: string,
    params: { pageToken?: string; syncToken?: string; showDeleted?: boolean; maxResults?: number; privateExtendedProperty?: string[] },
  ): Promise<ListEventsPage & { status: number }>;
}

/**
 * Opens the Calendar API for one access token. `sendUpdates=none` on every write: attendees (there
 * are none by design) must never be e-mailed by a sync. Writes give up after GOOGLE_WRITE_TIMEOUT_MS
 * (their outcome is then unknown and the transfer log's write check reads Google); reads after 30 s.
 */
export function openGoogleCalendar(params: { config: Config; accessToken: string }): GoogleCalendarApi {
  const writeTimeout = params.config.GOOGLE_WRITE_TIMEOUT_MS;
  const w = { timeout: writeTimeout };
  const auth = oauthClient(params.config);
  auth.setCredentials({ access_token: params.accessToken });
  const api = calendar({
    version: 'v3',
    // googleapis-common pins its own google-auth-library copy; the classes differ only in private
    // members, and the generated client only calls `auth.request()`.
    auth: auth as unknown as calendar_v3.Options['auth'],
    rootUrl: params.config.providers.googleApiRootUrl,
    retry: false,
    timeout: REQUEST_TIMEOUT_MS,
  });
  return {
    async insertCalendar(body) {
      const r = await call('calendars.insert', () => api.calendars.insert({ requestBody: body }, w), writeTimeout);
      return { id: r.data.id!, summary: r.data.summary ?? body.summary, status: r.status };
    },
    async getCalendar(calendarId) {
      const r = await call('calendars.get', () => api.calendars.get({ calendarId }));
      return { id: r.data.id!, summary: r.data.summary ?? '', status: r.status };
    },
    async patchCalendar(calendarId, body) {
      const r = await call('calendars.patch', () => api.calendars.patch({ calendarId, requestBody: body }, w), writeTimeout);
      return { id: r.data.id!, status: r.status };
    },
    async deleteCalendar(calendarId) {
      const r = await call('calendars.delete', () => api.calendars.delete({ calendarId }, w), writeTimeout);
      return { status: r.status };
    },
    async insertEvent(calendarId, body) {
      const r = await call('events.insert', () => api.events.insert({ calendarId, sendUpdates: 'none', requestBody: body }, w), writeTimeout);
      return { event: r.data, status: r.status };
    },
    async patchEvent(calendarId, eventId, body, options) {
      const r = await call(
        'events.patch',
        () =>
          api.events.patch(
            { calendarId, eventId, sendUpdates: 'none', requestBody: body },
            options?.etag ? { ...w, headers: { 'If-Match': options.etag } } : w,
          ),
        writeTimeout,
      );
      return { event: r.data, status: r.status };
    },
    async getEvent(calendarId, eventId) {
      const r = await call('events.get', () => api.events.get({ calendarId, eventId }));
      return { event: r.data, status: r.status };
    },
    async deleteEvent(calendarId, eventId) {
      const r = await call('events.delete', () => api.events.delete({ calendarId, eventId, sendUpdates: 'none' }, w), writeTimeout);
      return { status: r.status };
    },
    async listEvents(calendarId, p) {
      const r = await call('events.list', () =>
        api.events.list({
          calendarId,
          maxResults: p.maxResults ?? 2500,
          ...(p.pageToken ? { pageToken: p.pageToken } : {}),
          ...(p.syncToken ? { syncToken: p.syncToken } : {}),
          ...(p.showDeleted ? { showDeleted: true } : {}),
          ...(p.privateExtendedProperty?.length ? { privateExtendedProperty: p.privateExtendedProperty } : {}),
        }),
      );
      return {
        items: r.data.items ?? [],
        nextPageToken: r.data.nextPageToken ?? null,
        nextSyncToken: r.data.nextSyncToken ?? null,
        status: r.status,
      };
    },
  };
}

// --- OAuth token endpoint (not transfers of case data) --------------------------------------

/** Subclass exposing the library's cache-free refresh (its public `refreshAccessToken` is deprecated). */
class RefreshingClient extends OAuth2Client {
  refreshWith(refreshToken: string) {
    return this.refreshTokenNoCache(refreshToken);
  }
}

function toOAuthError(err: unknown): OAuthTokenError {
  const e = (err ?? {}) as GaxiosLikeError;
  const status = e.response?.status ?? null;
  const data = e.response?.data as { error?: string; error_description?: string } | undefined;
  if (status && typeof data?.error === 'string') {
    return new OAuthTokenError(data.error, status, `the token endpoint answered ${status} ${data.error}`);
  }
  if (status) return new OAuthTokenError(`http_${status}`, status, `the token endpoint answered ${status}`);
  return new OAuthTokenError('network_error', null, 'the token endpoint could not be reached');
}

function toTokenSet(tokens: {
  access_token?: string | null;
  refresh_token?: string | null;
  expiry_date?: number | null;
  scope?: string | null;
  id_token?: string | null;
}): TokenSet {
  if (!tokens.access_token) throw new OAuthTokenError('invalid_response', null, 'the token endpoint returned no access token');
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token ?? null,
    expiresAt: tokens.expiry_date ?? null,
    scope: tokens.scope ?? null,
    idToken: tokens.id_token ?? null,
  };
}

/** Exchanges an authorization code (with its PKCE verifier) for tokens. */
export async function exchangeGoogleCode(config: Config, params: { code: string; codeVerifier: string; redirectUri: string }): Promise<TokenSet> {
  const client = oauthClient(config);
  try {
    const { tokens } = await client.getToken({ code: params.code, codeVerifier: params.codeVerifier, redirect_uri: params.redirectUri });
    return toTokenSet(tokens);
  } catch (err) {
    throw err instanceof OAuthTokenError ? err : toOAuthError(err);
  }
}

/** Refreshes an access token. Google does not resend the refresh token: `refreshToken` is then null. */
export async function refreshGoogleToken(config: Config, params: { refreshToken: string }): Promise<TokenSet> {
  const base = oauthClient(config);
  const { clientId, clientSecret } = credentials(config);
  const client = new RefreshingClient({
    clientId,
    clientSecret,
    endpoints: googleEndpoints(config),
    transporter: base.transporter,
  });
  try {
    const { tokens } = await client.refreshWith(params.refreshToken);
    return toTokenSet(tokens);
  } catch (err) {
    throw err instanceof OAuthTokenError ? err : toOAuthError(err);
  }
}

/** Revokes a token at Google (revoking either token revokes the grant). Returns the HTTP status. */
export async function revokeGoogleToken(config: Config, params: { token: string }): Promise<{ status: number }> {
  const client = oauthClient(config);
  try {
    const res = await client.revokeToken(params.token);
    return { status: res.status };
  } catch (err) {
    const e = toOAuthError(err);
    if (e.status) return { status: e.status };
    throw e;
  }
}

/** The Google authorization endpoint of this deployment (real Google or the sandbox). */
export function googleAuthorizationEndpoint(config: Config): string {
  return config.providers.googleAuthUrl;
}
