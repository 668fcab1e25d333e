import type { Connector, RevokeContext } from '../../connectors/types.ts';
import { connectionTokens, tokensOfConnection } from '../connections/token-access.ts';
import type { ConnectionStatus } from '../db/types.ts';
import type { Services } from '../services.ts';

/** The connection columns a connector's revocation step is given. */
export interface RevokedConnectionRow {
  id: string;
  organization_id: string;
  user_id: string;
  platform: string;
  status: ConnectionStatus;
  external_account: string | null;
  settings: Record<string, unknown>;
}

/**
 * What a connector's provider-side revocation step sees: the narrow connector services, the
 * connection, and — for OAuth platforms — that connection's tokens (read before they are shredded).
 */
export function revokeContextFor(services: Services, connector: Connector, row: RevokedConnectionRow, purgeRemote: boolean): RevokeContext {
  return {
    services,
    tokens: connector.oauth ? tokensOfConnection(connectionTokens(services, connector.oauth, connector.manifest.id), row.id) : null,
    purgeRemote,
    connection: {
      id: row.id,
      organizationId: row.organization_id,
      userId: row.user_id,
      platform: row.platform,
      status: row.status,
      externalAccount: row.external_account,
      settings: row.settings,
    },
  };
}
