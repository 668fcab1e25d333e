import { connectorFor } from '../../connectors/registry.ts';
import type { UserPrincipal } from '../auth/principal.ts';
import { connectionForPrincipal } from '../connections/access.ts';
import type { CaseScope } from '../db/types.ts';
import type { Services } from '../services.ts';
import { CATEGORY_IDS, type CategoryId } from './categories.ts';
import { grantConnectionConsent } from './grant.ts';
import type { Consent } from './service.ts';

/**
 * A connection owner changes what it may share: a new consent version (never an update in place),
 * effective at once (revocation epoch bumped) and reconciled at once when the connection is active.
 * Own connection only (an administrator may read, not change); every other rule is the one
 * consent-granting function's ({@link grantConnectionConsent}), shared with connecting. The API
 * (`POST /v1/connections/{id}/consents`) and the Change page both call this.
 */
export async function changeConsent(
  services: Services,
  params: {
    principal: UserPrincipal;
    connectionId: string;
    categories: CategoryId[];
    caseScope: CaseScope;
    /** Chosen by the caller, never by the client: `consent_screen` only from a page that showed it. */
    method: Consent['method'];
    attestations: Record<string, string>;
    policyVersion?: string;
    ip: string | null;
    userAgent: string | null;
  },
): Promise<Consent> {
  const { principal } = params;
  const connection = await connectionForPrincipal(services.db, { principal, connectionId: params.connectionId, access: 'write' });
  const connector = connectorFor(connection.platform);
  const consent = await grantConnectionConsent(services, {
    connection: {
      id: connection.id,
      organizationId: principal.organizationId,
      status: connection.status,
      platformName: connector?.manifest.displayName ?? connection.platform,
      supportedCategories: connector?.manifest.categories ?? CATEGORY_IDS,
    },
    request: {
      grantedBy: principal.userId,
      categories: params.categories,
      caseScope: params.caseScope,
      attestations: params.attestations,
      policyVersion: params.policyVersion,
      method: params.method,
      ip: params.ip,
      userAgent: params.userAgent,
    },
  });
  // A wider or narrower consent changes what should be on the platform: reconcile now rather than at
  // the next data change or periodic full reconcile.
  if (connection.status === 'active') await services.queues.enqueueSync(connection.id, 'consent');
  return consent;
}
