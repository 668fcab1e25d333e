import { OAuthTokenError } from '../../src/connections/oauth-types.ts';
import { ProviderHttpError } from './client.ts';
import type { ProviderErrorClass } from '../types.ts';

/**
 * Google error → what the engine does about it. Pure (no I/O). Google reports two different things as
 * 403 or 429 in the `usageLimits` domain:
 * - rate limits (`rateLimitExceeded`, `userRateLimitExceeded`, a bare 429): a per-minute window that
 *   frees itself; Google asks for exponential backoff and rarely sends Retry-After, so the account is
 *   paused for {@link RATE_LIMIT_PAUSE_MS} when none came (never zero: a zero pause re-sends at once);
 * - usage limits (`quotaExceeded`, e.g. "Calendar usage limits exceeded": the calendar is read-only
 *   for hours; the daily project quota): nothing helps for a long while, so the account is paused
 *   for at least {@link USAGE_LIMIT_PAUSE_MS} and the error says so (`code: usage_limit`).
 * A 403 with another reason is a permission problem, not a quota.
 */

const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);
const USAGE_LIMIT_REASONS = new Set(['quotaExceeded', 'dailyLimitExceeded', 'dailyLimitExceededUnreg']);
/** Pause after a rate limit without Retry-After: Google's backoff guidance starts around a second. */
export const RATE_LIMIT_PAUSE_MS = 2_000;
/** Pause after a usage limit: Google lifts a calendar's read-only state after hours, not minutes. */
export const USAGE_LIMIT_PAUSE_MS = 3_600_000;
const REAUTH_REASONS = new Set(['insufficientPermissions', 'authError', 'invalid_grant']);

/**
 * An item of a chunk that was not sent because Google had just rate-limited an earlier one. It has
 * no provider status (nothing was sent; the transfer log shows it failed without a call) and is
 * classified like the rate limit it follows.
 */
export class NotSentError extends Error {
  readonly code = 'not_sent_rate_limited';
  constructor(readonly limitedBy: ProviderHttpError) {
    super('not sent: Google had just asked to slow down');
    this.name = 'NotSentError';
  }
}

/** Classifies a Google failure (HTTP, token endpoint or not sent) for the engine. */
export function classifyGoogleError(err: unknown): ProviderErrorClass {
  if (err instanceof NotSentError) return { ...classifyGoogleError(err.limitedBy), status: null, message: err.message };
  if (err instanceof ProviderHttpError) {
    const { status, reason } = err;
    const base = { status, message: err.message };
    if (status === null) return { kind: 'transient', ...base };
    if ((status === 403 || status === 429) && reason !== null && USAGE_LIMIT_REASONS.has(reason)) {
      const resumeMs = Math.max(err.retryAfterMs ?? 0, USAGE_LIMIT_PAUSE_MS);
      return { kind: 'rate_limited', retryAfterMs: resumeMs, code: 'usage_limit', ...base };
    }
    if (status === 429 || (status === 403 && reason !== null && RATE_LIMIT_REASONS.has(reason))) {
      return { kind: 'rate_limited', retryAfterMs: err.retryAfterMs || RATE_LIMIT_PAUSE_MS, ...base };
    }
    // 401: the access token expired or was revoked. Refreshing decides whether re-consent is needed.
    if (status === 401) return { kind: 'auth_failed', reauthRequired: false, ...base };
    if (status === 403 && reason === 'insufficientPermissions') return { kind: 'auth_failed', reauthRequired: true, ...base };
    if (status === 408 || status === 412 || status >= 500) return { kind: 'transient', ...base };
    return { kind: 'permanent', ...base };
  }
  if (err instanceof OAuthTokenError) {
    if (REAUTH_REASONS.has(err.code)) return { kind: 'auth_failed', reauthRequired: true, status: err.status, message: err.message };
    return { kind: 'transient', status: err.status, message: err.message };
  }
  const e = err as { name?: string; code?: string; message?: string } | null;
  // A gated client used outside the gate is a bug: retrying cannot fix it.
  if (e?.code === 'ungated_transfer') return { kind: 'permanent', message: e.message ?? 'ungated transfer' };
  return { kind: 'transient', message: e?.message ?? String(err) };
}
