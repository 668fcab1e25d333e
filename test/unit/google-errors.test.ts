import { describe, expect, it } from 'vitest';
import { classifyGoogleError, NotSentError } from '../../connectors/google-calendar/errors.ts';
import { OAuthTokenError } from '../../src/connections/oauth-types.ts';
import { ProviderHttpError } from '../../connectors/google-calendar/client.ts';

const http = (status: number | null, reason: string | null = null, retryAfterMs: number | null = null) =>
  classifyGoogleError(new ProviderHttpError(status, reason, 'x', retryAfterMs));

describe('Google error classification', () => {
  it('treats 429 and 403 rate-limit reasons as rate limited, keeping Retry-After', () => {
    expect(http(429, 'rateLimitExceeded', 2000)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 2000 });
    expect(http(403, 'rateLimitExceeded')).toMatchObject({ kind: 'rate_limited', retryAfterMs: null });
    expect(http(403, 'userRateLimitExceeded')).toMatchObject({ kind: 'rate_limited' });
    expect(http(403, 'dailyLimitExceeded')).toMatchObject({ kind: 'rate_limited', retryAfterMs: 3_600_000 });
    expect(classifyGoogleError(new NotSentError(new ProviderHttpError(429, 'rateLimitExceeded', 'x', 500)))).toMatchObject({
      kind: 'rate_limited',
      retryAfterMs: 500,
      status: null,
    });
  });

  it('separates auth failures that a refresh fixes from those needing re-consent', () => {
    expect(http(401, 'authError')).toMatchObject({ kind: 'auth_failed', reauthRequired: false });
    expect(http(403, 'insufficientPermissions')).toMatchObject({ kind: 'auth_failed', reauthRequired: true });
    expect(classifyGoogleError(new OAuthTokenError('invalid_grant', 400, 'x'))).toMatchObject({ kind: 'auth_failed', reauthRequired: true });
    expect(classifyGoogleError(new OAuthTokenError('network_error', null, 'x'))).toMatchObject({ kind: 'transient' });
  });

  it('retries network failures, timeouts, 5xx and 412; gives up on other 4xx', () => {
    for (const s of [null, 408, 412, 500, 502, 503]) expect(http(s).kind).toBe('transient');
    for (const s of [400, 403, 404, 409, 410]) expect(http(s, 'forbidden').kind).toBe('permanent');
  });
});
