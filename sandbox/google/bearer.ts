import type { Context } from 'hono';
import { tokenFault } from '../faults.ts';
import type { IssuedToken, SandboxState } from '../state.ts';

/**
 * Resolves the `Authorization: Bearer` token of a request to a Google API emulator (Calendar,
 * userinfo...) the way Google does: a missing, unknown, expired or revoked token answers 401 in
 * Google's error shape. `expire_tokens` and `revoke_tokens` faults for the token's account take
 * effect here (call it before `applyFaults`). Returns the account e-mail and token record, or the 401 response to send.
 */
export function resolveGoogleBearer(c: Context, state: SandboxState): { account: string; token: IssuedToken; accessToken: string } | Response {
  const header = c.req.header('authorization') ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  const accessToken = match?.[1];
  const record = accessToken ? state.tokens.get(accessToken) : undefined;
  if (accessToken && record && record.provider === 'google') {
    const req = { provider: 'google' as const, account: record.account, method: c.req.method, path: c.req.path };
    if (tokenFault(state, req, 'revoke_tokens')) state.revokeFamily(accessToken);
    else if (tokenFault(state, req, 'expire_tokens')) record.expiresAt = Date.now() - 1;
  }
  const checked = state.checkAccessToken(accessToken, 'google');
  if (typeof checked === 'string') return googleUnauthenticated(c);
  return { account: checked.account, token: checked, accessToken: accessToken! };
}

/** Google's 401 for a missing or bad OAuth 2 access token. */
export function googleUnauthenticated(c: Context): Response {
  c.header('WWW-Authenticate', 'Bearer realm="https://accounts.google.com/", error="invalid_token"');
  return c.json(
    {
      error: {
        code: 401,
        message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }],
        status: 'UNAUTHENTICATED',
      },
    },
    401,
  );
}
