import { connectors } from '../../../connectors/registry.ts';
import type { RouteModule } from '../env.ts';
import { adminAuditRoutes } from './admin-audit.ts';
import { adminPlatformRoutes } from './admin-platforms.ts';
import { adminSamlRoutes } from './admin-saml.ts';
import { adminSamlMetadataUrlRoutes } from './admin-saml-metadata-url.ts';
import { adminSessionRoutes } from './admin-sessions.ts';
import { adminTransferRoutes } from './admin-transfers.ts';
import { adminUserRoutes } from './admin-users.ts';
import { apiKeyRoutes } from './api-keys.ts';
import { authGoogleRoutes } from './auth-google.ts';
import { authPageRoutes } from './auth-pages.ts';
import { authSamlRoutes } from './auth-saml.ts';
import { authSessionRoutes } from './auth-session.ts';
import { signInLinkRoutes } from './auth-sign-in-link.ts';
import { signInPolicyRoutes } from './auth-sign-in-policy.ts';
import { caseRoutes } from './cases.ts';
import { connectionAuthorizationRoutes } from './connection-authorization.ts';
import { connectionDisconnectRoutes } from './connection-disconnect.ts';
import { connectionRoutes } from './connections.ts';
import { consentReceiptRoutes } from './consent-receipts.ts';
import { consentRoutes } from './consents.ts';
import { importedContactRoutes } from './imported-contacts.ts';
import { ingestBulkRoutes } from './ingest-bulk.ts';
import { ingestCaseRoutes } from './ingest-cases.ts';
import { ingestContactRoutes } from './ingest-contacts.ts';
import { ingestDocumentRoutes } from './ingest-documents.ts';
import { ingestEventRoutes } from './ingest-events.ts';
import { invitationRoutes } from './invitations.ts';
import { meRoutes } from './me.ts';
import { platformUserRoutes } from './platform-users.ts';
import { registerRevocationRoutes } from './revocations.ts';
import { securityEventRoutes } from './security-events.ts';
import { signingKeyRoutes } from './signing-key.ts';
import { superAdminDomainRoutes } from './super-admin-domains.ts';
import { superAdminRevocationRoutes } from './super-admin-revocations.ts';
import { transferRoutes } from './transfers.ts';
import { webhookDeliveryRoutes } from './webhook-deliveries.ts';
import { webhookRoutes } from './webhooks.ts';

/**
 * Every route module, in registration order. Adding a route group is adding a file and a line here;
 * a connector's own routes come from its registry entry.
 */
export const routeModules: RouteModule[] = [
  authPageRoutes,
  authGoogleRoutes,
  authSamlRoutes,
  authSessionRoutes,
  signInLinkRoutes,
  meRoutes,
  adminUserRoutes,
  adminSessionRoutes,
  adminSamlRoutes,
  adminSamlMetadataUrlRoutes,
  signInPolicyRoutes,
  securityEventRoutes,
  superAdminDomainRoutes,
  ingestCaseRoutes,
  ingestEventRoutes,
  ingestDocumentRoutes,
  ingestContactRoutes,
  ingestBulkRoutes,
  caseRoutes,
  apiKeyRoutes,
  // Routes a platform brings itself (e.g. a feed it serves), from the connector registry.
  ...connectors.flatMap((c) => c.routes ?? []),
  connectionAuthorizationRoutes,
  connectionRoutes,
  consentRoutes,
  importedContactRoutes,
  invitationRoutes,
  consentReceiptRoutes,
  transferRoutes,
  signingKeyRoutes,
  adminTransferRoutes,
  adminAuditRoutes,
  registerRevocationRoutes,
  webhookRoutes,
  webhookDeliveryRoutes,
  connectionDisconnectRoutes,
  adminPlatformRoutes,
  superAdminRevocationRoutes,
  platformUserRoutes,
];
