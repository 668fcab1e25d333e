import type { ConnectorContext, SyncConnection } from '../../connectors/types.ts';
import { loadDocumentsInScope, loadEventsInScope } from '../cases/queries.ts';
import type { Consent } from '../consent/service.ts';
import type { Services } from '../services.ts';
import { createProviderHttpClient } from '../transfers/clients/http.ts';
import type { TransferActor } from '../transfers/types.ts';
import { syncStateStore } from './state-store.ts';

/**
 * Builds the narrow context a connector runs with for one connection (see {@link ConnectorContext}):
 * the engines hold the services; a connector gets only the gate, a gated client, a fresh token, its
 * connection's sync state, the case-data loaders, a logger and a clock.
 */
export function createConnectorContext(
  services: Pick<Services, 'db' | 'gate' | 'logger' | 'config'>,
  params: {
    connection: SyncConnection;
    consent: Consent;
    actor: TransferActor;
    /** A fresh access token (refreshed ahead of expiry); rejects for platforms without one. */
    accessToken(): Promise<string>;
    now?: () => Date;
  },
): ConnectorContext {
  const { connection, consent } = params;
  const scope = { organizationId: connection.organizationId, userEmail: connection.userEmail, caseScope: consent.caseScope };
  return {
    connection,
    consent,
    actor: params.actor,
    gate: services.gate,
    httpClient: ({ name, baseUrl }) =>
      createProviderHttpClient({ name, baseUrl, authorize: async () => ({ authorization: `Bearer ${await params.accessToken()}` }) }),
    accessToken: params.accessToken,
    state: syncStateStore(services.db, connection.id),
    db: services.db,
    loaders: {
      events: () => loadEventsInScope(services.db, scope),
      documents: () => loadDocumentsInScope(services.db, scope),
    },
    logger: services.logger.child({ connectionId: connection.id, platform: connection.platform }),
    config: services.config,
    now: params.now ?? (() => new Date()),
  };
}
