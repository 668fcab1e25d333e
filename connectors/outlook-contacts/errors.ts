import { OAuthTokenError } from '../../src/connections/oauth-types.ts';
import type { ProviderErrorClass } from '../types.ts';
import { GraphRequestError } from './client.ts';

/**
 * Graph error → what the engine does about it. Pure. 429 (`TooManyRequests`, `MailboxConcurrency`)
 * and 503/504 honour Retry-After through the queue; 401 is left to a token refresh; a refused grant
 * (`invalid_grant`, AADSTS700082) or a missing permission needs the user to reconnect.
 */
export function classifyGraphError(err: unknown): ProviderErrorClass {
  if (err instanceof GraphRequestError) {
    const { status, graphCode } = err;
    const base = { status, message: err.message, ...(graphCode ? { code: graphCode } : {}) };
    if (status === null) return { kind: 'transient', ...base };
    if (status === 429 || ((status === 503 || status === 504) && err.retryAfterMs !== null))
      return { kind: 'rate_limited', retryAfterMs: err.retryAfterMs, ...base };
    if (status === 401) return { kind: 'auth_failed', reauthRequired: false, ...base };
    if (status === 403 && graphCode === 'ErrorAccessDenied') return { kind: 'auth_failed', reauthRequired: true, ...base };
    if (status === 408 || status >= 500) return { kind: 'transient', ...base };
    return { kind: 'permanent', ...base };
  }
  if (err instanceof OAuthTokenError) {
    if (err.code === 'invalid_grant' || err.code === 'unauthorized_client')
      return { kind: 'auth_failed', reauthRequired: true, status: err.status, message: err.message };
    return { kind: 'transient', status: err.status, message: err.message };
  }
  const e = err as { code?: string; message?: string } | null;
  // The token accessor found the grant gone (and already moved the connection to reauth_required).
  if (e?.code === 'reauth_required') return { kind: 'auth_failed', reauthRequired: true, message: e.message ?? 'reconnect the account' };
  if (e?.code === 'ungated_transfer') return { kind: 'permanent', message: e.message ?? 'ungated transfer' };
  return { kind: 'transient', message: e?.message ?? String(err) };
}
