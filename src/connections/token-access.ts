import type { Services } from '../services.ts';
import { markReauthRequired } from './lifecycle.ts';
import type { ConnectorOAuth } from './oauth-types.ts';
import { createTokenAccess, type TokenAccess, vaultFor } from './token-refresh.ts';
import type { StoredTokens } from './token-vault.ts';

/**
 * The one way to a connection's provider tokens: workers, the import engine, revocation steps,
 * write checks and the connect flow all ask here. Refreshes are single-flight across processes
 * (`token-refresh.ts`); a refresh that proves the grant gone moves the connection to
 * `reauth_required` through the state machine, once.
 */
export interface ConnectionTokens extends TokenAccess {
  /** The stored tokens as they are (no refresh), or null when none are stored (never connected, or shredded). */
  stored(connectionId: string): Promise<StoredTokens | null>;
}

/** The same, bound to one connection: what a connector's revocation and write-check steps are given. */
export function tokensOfConnection(tokens: ConnectionTokens, connectionId: string): { stored(): Promise<StoredTokens | null>; accessToken(): Promise<string> } {
  return { stored: () => tokens.stored(connectionId), accessToken: () => tokens.get(connectionId) };
}

export function connectionTokens(
  services: Pick<Services, 'db' | 'redis' | 'config' | 'logger' | 'queues'>,
  oauth: ConnectorOAuth,
  /** The platform, for the refresh-failure metric's label. */
  platform: string,
): ConnectionTokens {
  const access = createTokenAccess(services, {
    oauth,
    platform,
    onReauthRequired: async (id, message) => {
      await markReauthRequired(services, id, message);
    },
  });
  return { ...access, stored: (connectionId) => vaultFor(services).load(connectionId) };
}
