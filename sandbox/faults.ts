import type { Context } from 'hono';
import type { FaultSpec, ProviderId, SandboxState } from './state.ts';

/** Faults that answer a request instead of the emulator: one request gets one answer, so it consumes at most one of them. */
const ANSWER_FAULT_KINDS: ReadonlyArray<FaultSpec['kind']> = ['timeout', 'status'];

/**
 * Applies injected faults to one request, after the emulator has resolved the account. Returns a
 * response to send instead of the normal one, or null to carry on. `delay` faults just wait.
 * Token faults (`invalid_grant`, `expire_tokens`, `revoke_tokens`) are handled by the OAuth token
 * endpoints and bearer checks via `tokenFault`.
 */
export async function applyFaults(c: Context, state: SandboxState, req: { provider: ProviderId; account: string | null }): Promise<Response | null> {
  const path = new URL(c.req.url).pathname;
  const match = { ...req, method: c.req.method, path };
  for (const f of state.matchFaults(match, ['delay'])) await new Promise((r) => setTimeout(r, f.delayMs ?? 100));
  // Quota faults count every request (they are windows, not one-off answers).
  for (const f of state.matchFaults(match, ['quota'])) {
    const q = state.overQuota(f, req.account);
    // Google sends no Retry-After on quota errors (it asks for exponential backoff): only a
    // fault that names one sends it. Other providers tell the client when to come back.
    const retryAfter = f.retryAfterSeconds ?? (req.provider === 'google' ? undefined : q.retryAfterSeconds);
    if (q.over) return faultResponse(c, req.provider, f.status ?? 403, retryAfter, f.reason);
  }
  // One request gets one answer: it consumes at most one one-off fault (two pending never both go to it).
  const [answer] = state.matchFaults(match, ANSWER_FAULT_KINDS, { first: true });
  if (answer?.kind === 'timeout') {
    await new Promise((r) => setTimeout(r, answer.delayMs ?? 30_000));
    return c.body(null, 504);
  }
  if (answer?.kind === 'status') return faultResponse(c, req.provider, answer.status ?? 500, answer.retryAfterSeconds, answer.reason);
  return null;
}

/** Whether a token-level fault is active for this provider/account (consumes one of `times`). */
export function tokenFault(
  state: SandboxState,
  req: { provider: ProviderId; account: string | null; method: string; path: string },
  kind: 'invalid_grant' | 'expire_tokens' | 'revoke_tokens',
): boolean {
  return state.matchFaults(req, [kind]).length > 0;
}

/** An error body in the provider's own shape. */
function faultResponse(c: Context, provider: ProviderId, status: number, retryAfter?: number, reason?: string): Response {
  if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter));
  if (provider === 'google')
    return googleErrorResponse(c, status, reason ?? (status === 429 || status === 403 ? 'rateLimitExceeded' : status >= 500 ? 'backendError' : 'failed'));
  if (provider === 'microsoft') {
    const requestId = crypto.randomUUID();
    const code = reason ?? (status === 429 ? 'TooManyRequests' : status >= 500 ? 'ServiceUnavailable' : 'ErrorInvalidRequest');
    return c.json(
      {
        error: {
          code,
          message: 'Injected fault',
          innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': requestId, 'client-request-id': requestId },
        },
      },
      status as 500,
    );
  }
  return c.json({ error: { code: String(status), message: 'Injected fault' } }, status as 500);
}

/** Google's own messages for the reasons faults inject (Calendar API errors guide). */
const GOOGLE_MESSAGES: Record<string, string> = {
  rateLimitExceeded: 'Rate Limit Exceeded',
  userRateLimitExceeded: 'User Rate Limit Exceeded',
  quotaExceeded: 'Calendar usage limits exceeded.',
  dailyLimitExceeded: 'Daily Limit Exceeded',
  backendError: 'Backend Error',
};

/** google.rpc status names Google puts beside the v3 `errors` array. */
const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/**
 * An error in Google's shape: `{ error: { code, message, errors: [{ domain, reason, message }], status } }`.
 * Quota reasons are in the `usageLimits` domain.
 */
export function googleErrorResponse(c: Context, status: number, reason: string, message = GOOGLE_MESSAGES[reason] ?? 'Injected fault'): Response {
  const domain = /ratelimit|quota|dailylimit/i.test(reason) ? 'usageLimits' : 'global';
  return c.json(
    { error: { code: status, message, errors: [{ domain, reason, message }], ...(GOOGLE_STATUS[status] ? { status: GOOGLE_STATUS[status] } : {}) } },
    status as 500,
  );
}
