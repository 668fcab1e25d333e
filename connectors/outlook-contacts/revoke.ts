import type { RevokeContext, RevokeStepResult } from '../types.ts';

/**
 * Microsoft offers no endpoint that revokes a delegated grant's tokens. Revocation therefore
 * shreds the stored tokens (the caller does, after this step), and the receipt says plainly that
 * nothing was revoked at Microsoft: an access token already issued stays valid until it expires
 * (about an hour). The delegated grant itself is removed by the user at
 * https://myapps.microsoft.com or an administrator (Entra admin centre, or
 * `DELETE /oauth2PermissionGrants/{id}`; see the README).
 */
export async function revokeOutlookContacts(_ctx: RevokeContext): Promise<RevokeStepResult[]> {
  return [
    {
      step: 'provider_revoke',
      result: 'not_supported',
      detail:
        'Microsoft has no token revocation endpoint: the stored tokens are shredded; an issued access token expires within about an hour; remove the delegated grant in the Microsoft account or Entra admin centre',
    },
  ];
}
