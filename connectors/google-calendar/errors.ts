import { OAuthTokenError } from '../../src/connections/oauth-types.ts';
import { ProviderHttpError } from './client.ts';
import type { ProviderErrorClass } from '../types.ts';

/**
 * Google error → what the engine does about it. Pure (no I/O). Google reports quota both as 403 and
 * 429 with reason `rateLimitExceeded` / `userRateLimitExceeded` (domain `usageLimits`); a 403 with
 * another reason is a permission problem, not a quota.
 */

const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded']);
/** Daily quota: nothing helps for a long while; back off for an hour unless told otherwise. */
const DAILY_LIMIT_REASONS = new Set(['dailyLimitExceeded', 'dailyLimitExceededUnreg']);
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

export function classifyGoogleError(err: unknown): ProviderErrorClass {
  if (err instanceof NotSentError) return { kind: 'rate_limited', retryAfterMs: err.limitedBy.retryAfterMs, status: null, message: err.message };
  if (err instanceof ProviderHttpError) {
    const { status, reason } = err;
    const base = { status, message: err.message };
    if (status === null) return { kind: 'transient', ...base };
    if (status === 429 || (status === 403 && reason !== null && RATE_LIMIT_REASONS.has(reason))) {
      return { kind: 'rate_limited', retryAfterMs: err.retryAfterMs, ...base };
    }
    if (status === 403 && reason !== null && DAILY_LIMIT_REASONS.has(reason)) {
      return { kind: 'rate_limited', retryAfterMs: err.retryAfterMs ?? 3_600_000, ...base };
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
