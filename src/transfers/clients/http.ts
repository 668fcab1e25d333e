import { type NetworkFailure, networkFailureOf } from '../errors.ts';
import { beforeProviderRequest } from '../gate-scope.ts';

/**
 * A gated JSON-over-HTTP client for providers without an SDK we use (iManage Work, Microsoft Graph
 * through its REST API). Connectors get one from {@link createProviderHttpClient}; every request
 * asserts it runs inside an outbound-gate `perform` callback, so it cannot be used to send data
 * around the gate. No retries (the queue retries), a timeout on every call, and errors that carry the
 * provider status and Retry-After for the connector's error classifier. Credentials come from the
 * `authorize` callback per request and never appear in errors.
 */

export class ProviderRequestError extends Error {
  readonly code = 'provider_request_failed';
  constructor(
    /** HTTP status, or null for network failures and timeouts. */
    readonly status: number | null,
    message: string,
    /** Parsed `Retry-After` in ms, when the provider sent one. */
    readonly retryAfterMs: number | null,
    /** The provider's JSON error body, if any (never includes our request headers). */
    readonly body: unknown,
    /**
     * Without an HTTP answer: how the request ended. `timeout` and `connection_lost` mean it may have
     * been applied (the gate logs `unknown`); `connection_failed` means it never left (`not_sent`).
     */
    readonly network: NetworkFailure | null = null,
  ) {
    super(message);
    this.name = 'ProviderRequestError';
  }
}

export interface ProviderRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path relative to the base URL, or an absolute URL on the same origin (e.g. an @odata.nextLink). */
  path: string;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** JSON-serialised unless it is bytes (sent as is with the given content-type header). */
  body?: unknown;
  timeoutMs?: number;
}

export interface ProviderResponse<T> {
  status: number;
  headers: Headers;
  body: T | null;
  /** Bytes of the request body actually sent (for the transfer log's `bytes`). */
  bytesSent: number;
}

export interface ProviderHttpClient {
  request<T = unknown>(req: ProviderRequest): Promise<ProviderResponse<T>>;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function createProviderHttpClient(options: {
  /** Provider name for error messages, e.g. `imanage`. */
  name: string;
  baseUrl: string;
  /** Headers that authenticate one request (e.g. `{ authorization: 'Bearer …' }`). */
  authorize: () => Promise<Record<string, string>>;
  timeoutMs?: number;
  /** The fetch to use (e.g. one pinned to a checked address); the global one by default. */
  fetch?: typeof fetch;
}): ProviderHttpClient {
  const base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  return {
    async request<T>(req: ProviderRequest): Promise<ProviderResponse<T>> {
      await beforeProviderRequest(`${options.name} ${req.method} request`);
      const url = new URL(req.path.replace(/^\//, ''), base);
      if (url.origin !== base.origin) throw new ProviderRequestError(null, `${options.name}: refusing a request to another origin`, null, null);
      for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
      const isBytes = req.body instanceof Uint8Array;
      const payload = req.body === undefined ? undefined : isBytes ? (req.body as Uint8Array) : JSON.stringify(req.body);
      const headers: Record<string, string> = {
        accept: 'application/json',
        ...(payload !== undefined && !isBytes ? { 'content-type': 'application/json' } : {}),
        ...req.headers,
        ...(await options.authorize()),
      };
      const timeoutMs = req.timeoutMs ?? options.timeoutMs ?? 30_000;
      let res: Response;
      try {
        res = await (options.fetch ?? fetch)(url, {
          method: req.method,
          headers,
          body: payload as string | Uint8Array<ArrayBuffer> | undefined,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
      } catch (err) {
        throw networkError(options.name, req.method, url.pathname, err, timeoutMs);
      }
      const text = await res.text();
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = null;
      }
      if (!res.ok && res.status !== 304) {
        throw new ProviderRequestError(
          res.status,
          `${options.name}: ${req.method} ${url.pathname} answered ${res.status}`,
          parseRetryAfter(res.headers.get('retry-after')),
          body,
        );
      }
      const bytesSent = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
      return { status: res.status, headers: res.headers, body: body as T | null, bytesSent };
    },
  };
}

/**
 * The error of a request that got no HTTP answer, saying which of the three it was: a timeout and a
 * connection lost mid-request may have been applied by the provider; a failed connection was not.
 */
function networkError(name: string, method: string, pathname: string, err: unknown, timeoutMs: number): ProviderRequestError {
  // A fetch failure without a recognisable cause is treated as "may have left": never claim less.
  const network = networkFailureOf(err) ?? 'connection_lost';
  const what =
    network === 'timeout'
      ? `no answer within ${timeoutMs} ms (timed out; the request may have been applied)`
      : network === 'connection_failed'
        ? 'could not connect (the request was not sent)'
        : 'connection lost before the answer (the request may have been applied)';
  return new ProviderRequestError(null, `${name}: ${what} on ${method} ${pathname}`, null, null, network);
}
