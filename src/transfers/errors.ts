import { cleanText } from './log-entry.ts';

/**
 * What the transfer log keeps of a failed provider call: a class (error name or code), the provider's
 * HTTP status when known, and a message with anything that looks like a credential removed. The raw
 * error goes back to the caller for classification; only this summary is persisted.
 */
export interface ErrorSummary {
  errorClass: string;
  errorMessage: string | null;
  providerStatus: number | null;
}

const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [/\b(access_token|refresh_token|id_token|client_secret|code|token|password|apikey|api_key|key|secret|assertion)=([^&\s"']+)/gi, '$1=[redacted]'],
  [/"(access_token|refresh_token|id_token|client_secret|token|password|secret|assertion)"\s*:\s*"[^"]*"/gi, '"$1":"[redacted]"'],
  // JWTs and other long opaque tokens.
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  [/\b(ya29\.|1\/\/)[A-Za-z0-9._-]{10,}/g, '[redacted-token]'],
  [/\b[A-Za-z0-9_-]{40,}\b/g, '[redacted]'],
];

/** Removes credential-looking substrings from a message. */
export function scrubSecrets(message: string): string {
  let out = message;
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement);
  return out;
}

function numericStatus(value: unknown): number | null {
  const n = typeof value === 'string' && /^\d{3}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 100 && n <= 599 ? n : null;
}

/** Summarises any thrown value for the log. */
export function summariseError(err: unknown): ErrorSummary {
  if (!(err instanceof Error)) {
    return { errorClass: typeof err, errorMessage: cleanText(scrubSecrets(String(err)), 500), providerStatus: null };
  }
  const e = err as Error & { code?: unknown; status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  const providerStatus = numericStatus(e.status) ?? numericStatus(e.statusCode) ?? numericStatus(e.response?.status) ?? numericStatus(e.code);
  const code = typeof e.code === 'string' && !/^\d+$/.test(e.code) ? `:${e.code}` : '';
  return {
    errorClass: cleanText(`${e.name || e.constructor?.name || 'Error'}${code}`, 200)!,
    errorMessage: cleanText(scrubSecrets(e.message ?? ''), 500),
    providerStatus,
  };
}

/**
 * How a request that got no HTTP answer ended, as gated clients report it on their errors (a
 * `network` member): `timeout` — sent (or being sent) and no answer in time, so it may have been
 * applied; `connection_failed` — no connection was made, nothing left; `connection_lost` — the
 * connection broke while the request or its answer was under way, so it may have been applied.
 */
export type NetworkFailure = 'timeout' | 'connection_failed' | 'connection_lost';

/** Error codes that mean no byte of the request left this machine. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_INVALID_URL']);
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);

/**
 * Classifies a failure without an HTTP answer from the error and its `cause` chain (fetch wraps the
 * socket error; gaxios wraps fetch's). Null when the error says nothing about the network.
 */
export function networkFailureOf(err: unknown): NetworkFailure | null {
  for (
    let e = err as { name?: unknown; code?: unknown; network?: unknown; cause?: unknown; message?: unknown } | null, depth = 0;
    e && typeof e === 'object' && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (e.network === 'timeout' || e.network === 'connection_failed' || e.network === 'connection_lost') return e.network;
    if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
    if (typeof e.code === 'string' && NEVER_CONNECTED.has(e.code)) return 'connection_failed';
    if (typeof e.code === 'string' && CONNECTION_LOST.has(e.code)) return 'connection_lost';
  }
  return null;
}

/** The logged outcome of a `perform` that threw, with the summary its row keeps. */
export interface FailedCallOutcome {
  /** `failed`: the provider answered with an error; `unknown`: it may have been applied; `not_sent`: it never left. */
  outcome: 'failed' | 'unknown' | 'not_sent';
  summary: ErrorSummary;
}

/**
 * What a thrown `perform` error says about the provider write:
 * - an HTTP status from the provider → `failed` (it answered, so it did not apply the write — or said
 *   so);
 * - marked as not sent (`notSent: true`, or a `not_sent…` / `ungated_transfer` code: the connector or
 *   a gated client refused before any request), or a connection that was never made → `not_sent`;
 * - anything else — a timeout, a connection lost mid-request, an error we cannot place — → `unknown`:
 *   the request may have reached the provider, so the log must not claim it did not. The recovery job
 *   resolves it by reading the provider (`resolution.ts`).
 */
export function failedCallOutcome(err: unknown): FailedCallOutcome {
  const summary = summariseError(err);
  const e = (err ?? {}) as { code?: unknown; notSent?: unknown };
  if (e.notSent === true || (typeof e.code === 'string' && (e.code.startsWith('not_sent') || e.code === 'ungated_transfer'))) {
    return { outcome: 'not_sent', summary };
  }
  // A follow-up refused by the gate: the request before it was answered with an error (a 409, 412 or
  // 404 is why there is a follow-up), so the write did not take effect.
  if (e.code === 'follow_up_refused') return { outcome: 'failed', summary };
  const network = networkFailureOf(err);
  if (network === 'connection_failed') return { outcome: 'not_sent', summary: { ...summary, errorClass: `${summary.errorClass}:connection_failed` } };
  if (network) return { outcome: 'unknown', summary: { ...summary, errorClass: `${summary.errorClass}:${network}` } };
  if (summary.providerStatus !== null) return { outcome: 'failed', summary };
  return { outcome: 'unknown', summary };
}

/** A transfer the gate prepared and did not send (the caller aborted the chunk, or asked to skip it). */
export class TransferNotSentError extends Error {
  readonly code = 'transfer_not_sent';
  readonly notSent = true;
  constructor(readonly reason: string) {
    super(`not sent: ${reason}`);
    this.name = 'TransferNotSentError';
  }
}
