import type { Context } from 'hono';
import type { FaultSpec, ProviderId, SandboxState } from './state.ts';

const REQUEST_FAULT_KINDS: ReadonlyArray<FaultSpec['kind']> = ['delay', 'timeout', 'status', 'quota'];

/**
 * Applies injected faults to one request, after the emulator has resolved the account. Returns a
 * response to send instead of the normal one, or null to carry on. `delay` faults just wait.
 * Token faults (`invalid_grant`, `expire_tokens`, `revoke_tokens`) are handled by the OAuth token
 * endpoints and bearer checks via `tokenFault`.
 */
export async function applyFaults(
  c: Context,
  state: SandboxState,
  req: { provider: ProviderId; account: string | null },
): Promise<Response | null> {
  const path = new URL(c.req.url).pathname;
  const faults = state.matchFaults({ ...req, method: c.req.method, path }, REQUEST_FAULT_KINDS);
  for (const f of faults) {
    if (f.kind === 'delay') await new Promise((r) => setTimeout(r, f.delayMs ?? 100));
  }
  for (const f of faults) {
    if (f.kind === 'timeout') {
      await new Promise((r) => setTimeout(r, f.delayMs ?? 30_000));
      return c.body(null, 504);
    }
    if (f.kind === 'status') return faultResponse(c, req.provider, f.status ?? 500, f.retryAfterSeconds, f.reason);
    if (f.kind === 'quota') {
      const q = state.overQuota(f, req.account);
      if (q.over) return faultResponse(c, req.provider, f.status ?? 403, f.retryAfterSeconds ?? q.retryAfterSeconds, f.reason);
    }
  }
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
  if (provider === 'google') {
    const r = reason ?? (status === 429 || status === 403 ? 'rateLimitExceeded' : status >= 500 ? 'backendError' : 'failed');
    const message = r.includes('RateLimit') || r === 'rateLimitExceeded' ? 'Rate Limit Exceeded' : 'Injected fault';
    return c.json(
      { error: { code: status, message, errors: [{ domain: r.includes('ateLimit') ? 'usageLimits' : 'global', reason: r, message }] } },
      status as 500,
    );
  }
  if (provider === 'microsoft') {
    const requestId = crypto.randomUUID();
    const code = reason ?? (status === 429 ? 'TooManyRequests' : status >= 500 ? 'ServiceUnavailable' : 'ErrorInvalidRequest');
    return c.json(
      { error: { code, message: 'Injected fault', innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': requestId, 'client-request-id': requestId } } },
      status as 500,
    );
  }
  return c.json({ error: { code: String(status), message: 'Injected fault' } }, status as 500);
}
