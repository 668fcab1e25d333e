import { loadDocumentsInScope } from '../../src/cases/queries.ts';
import type { ConnectorOAuth } from '../../src/connections/oauth-types.ts';
import { registerWriteCheck } from '../../src/transfers/resolution.ts';
import type { Connector } from '../types.ts';
import { applyImanageSteps } from './apply.ts';
import { checkImanageHost, exchangeImanageCode, hostOf, imanageCredentials, refreshImanageToken } from './client.ts';
import { classifyImanageError } from './errors.ts';
import { imanageOperationExamples } from './examples.ts';
import { loadFirmClient } from './firm-client.ts';
import { imanageFirmClientRoutes } from './firm-client-routes.ts';
import { prepareImanage } from './folders.ts';
import { type ImanageSettings, manifest, settings } from './manifest.ts';
import { registerImanagePages } from './pages.tsx';
import { projectDocuments } from './project.ts';
import { createImanageRevoke } from './revoke.ts';
import { createImanageWriteCheck } from './write-check.ts';

/**
 * iManage's side of the generic OAuth flow. Endpoints are the firm's own server (settings.host);
 * scope `user` is the only one iManage knows. The account is learned at discovery, not here.
 */
const oauth: ConnectorOAuth = {
  authorizationEndpoint: (_config, s) => `${hostOf(s ?? {})}/auth/oauth2/authorize`,
  // The firm's own registration (PUT /v1/admin/imanage/client) first, the deployment's otherwise.
  clientId: (config, _s, client) => client?.clientId ?? imanageCredentials(config).clientId,
  organizationClient: loadFirmClient,
  scopes: () => ['user'],
  exchangeCode: exchangeImanageCode,
  refresh: refreshImanageToken,
};

/** iManage Work: files each case's documents into its matter workspace (organization-level, push). */
export const imanageConnector: Connector = {
  manifest,
  oauth,
  settings: {
    ...settings,
    check: (config, s) => checkImanageHost(config, (s as unknown as ImanageSettings).host),
  },
  revoke: createImanageRevoke(),
  routes: [imanageFirmClientRoutes],
  // The administrator's connect flow (server, OAuth client, consent, sign-in) and the status page.
  pages: { paths: ['/imanage', '/imanage/*'], card: { href: '/imanage', label: 'Open iManage Work' }, register: registerImanagePages },
  operationExamples: imanageOperationExamples,
  sync: {
    async desired({ services, connection, consent }) {
      const documents = await loadDocumentsInScope(services.db, { organizationId: connection.organizationId, userEmail: null, caseScope: consent.caseScope });
      return projectDocuments({ documents, categories: consent.categories });
    },
    prepare: prepareImanage,
    apply: applyImanageSteps,
    // Edits in iManage are the firm's: never restored, never listed.
    driftPolicy: () => 'leave',
    classifyError: classifyImanageError,
  },
};

// How the transfer log resolves an upload of unknown outcome (src/transfers/resolution.ts).
registerWriteCheck(manifest.id, createImanageWriteCheck(), oauth);
