import { describe, expect, it } from 'vitest';
import { capDescription, GOOGLE_DESCRIPTION_LIMIT, toGoogleEvent } from '../../connectors/google-calendar/apply.ts';
import { googleReason, ProviderHttpError } from '../../connectors/google-calendar/client.ts';
import { classifyGoogleError, NotSentError } from '../../connectors/google-calendar/errors.ts';
import { OAuthTokenError } from '../../src/connections/oauth-types.ts';

const http = (status: number | null, reason: string | null = null, retryAfterMs: number | null = null) =>
  classifyGoogleError(new ProviderHttpError(status, reason, 'x', retryAfterMs));

describe('Google error classification', () => {
  it('treats 429 and 403 rate-limit reasons as rate limited, keeping Retry-After', () => {
    expect(http(429, 'rateLimitExceeded', 2000)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 2000 });
    expect(http(403, 'userRateLimitExceeded')).toMatchObject({ kind: 'rate_limited' });
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

  it('pauses the account on a rate limit even when Google sends no Retry-After', () => {
    for (const [status, reason] of [
      [403, 'rateLimitExceeded'],
      [403, 'userRateLimitExceeded'],
      [429, 'rateLimitExceeded'],
      [429, null],
    ] as const) {
      const c = http(status, reason);
      expect(c.kind).toBe('rate_limited');
      expect(c.kind === 'rate_limited' && c.retryAfterMs).toBeGreaterThan(0);
    }
  });

  it('treats usage limits (quotaExceeded, daily limits) as hours away, not a per-minute rate limit', () => {
    for (const reason of ['quotaExceeded', 'dailyLimitExceeded']) {
      expect(http(403, reason)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 3_600_000, code: 'usage_limit' });
    }
    // A longer Retry-After wins; a shorter one does not shorten the pause.
    expect(http(403, 'quotaExceeded', 7_200_000)).toMatchObject({ retryAfterMs: 7_200_000 });
    expect(http(429, 'quotaExceeded', 5_000)).toMatchObject({ retryAfterMs: 3_600_000 });
    // The chunk items not sent after a usage limit wait as long.
    expect(classifyGoogleError(new NotSentError(new ProviderHttpError(403, 'quotaExceeded', 'x')))).toMatchObject({ retryAfterMs: 3_600_000, status: null });
  });

  it('reads the reason from details[].reason and status when there is no errors array', () => {
    expect(
      googleReason({ status: 'PERMISSION_DENIED', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'RATE_LIMIT_EXCEEDED' }] }),
    ).toBe('rateLimitExceeded');
    expect(googleReason({ status: 'RESOURCE_EXHAUSTED' })).toBe('rateLimitExceeded');
    expect(googleReason({ details: [{ reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT' }] })).toBe('insufficientPermissions');
    expect(googleReason({ errors: [{ reason: 'quotaExceeded' }], status: 'PERMISSION_DENIED' })).toBe('quotaExceeded');
    expect(http(403, googleReason({ status: 'PERMISSION_DENIED', details: [{ reason: 'RATE_LIMIT_EXCEEDED' }] })).kind).toBe('rate_limited');
  });

  it("caps a long description at Google's limit with a marker instead of a permanent 400", () => {
    const long = 'x'.repeat(20_000);
    const capped = capDescription(long);
    expect(capped.length).toBeLessThanOrEqual(GOOGLE_DESCRIPTION_LIMIT);
    expect(capped).toMatch(/shortened/);
    expect(capDescription('short')).toBe('short');
    // Never half a surrogate pair at the cut.
    const emoji = capDescription('😀'.repeat(10_000));
    expect(emoji.length).toBeLessThanOrEqual(GOOGLE_DESCRIPTION_LIMIT);
    expect(() => encodeURIComponent(emoji)).not.toThrow();
    const body = toGoogleEvent({
      fields: { title: 'T', start: '2026-01-01', end: '2026-01-02', allDay: true, description: long },
      desired: { caseId: 'c', key: 'event:e', meta: {} },
      connectionId: 'conn',
    });
    expect(body.description!.length).toBeLessThanOrEqual(GOOGLE_DESCRIPTION_LIMIT);
  });
});
