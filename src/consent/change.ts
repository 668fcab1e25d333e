import { connectorFor } from '../../connectors/registry.ts';
import { ApiError } from '../api/errors.ts';
import type { UserPrincipal } from '../auth/principal.ts';
import type { CaseScope } from '../db/types.ts';
import type { Services } from '../services.ts';
import { CATEGORY_IDS, type CategoryId } from './categories.ts';
import { type Consent, ConsentError, CURRENT_POLICY_VERSION, grantConsentAndPublish } from './service.ts';

/**
 * A connection owner changes what it may share: a new consent version (never an update in place),
 * effective at once (revocation epoch bumped) and reconciled at once when the connection is active.
 * The rules — own connection only (an administrator may read, not change), not revoked, the policy
 * version shown is the current one, categories the platform can carry, cases of the organization —
 * are the same for the API (`POST /v1/connections/{id}/consents`) and the Change page.
 */
export async function changeConsent(
  services: Services,
  params: {
    principal: UserPrincipal;
    connectionId: string;
    categories: CategoryId[];
    caseScope: CaseScope;
    method: Consent['method'];
    attestations: Record<string, string>;
    policyVersion?: string;
    ip: string | null;
    userAgent: string | null;
  },
): Promise<Consent> {
  const { principal } = params;
  const connection = await services.db
    .selectFrom('connections')
    .select(['id', 'user_id', 'platform', 'status'])
    .where('id', '=', params.connectionId)
    .where('organization_id', '=', principal.organizationId)
    .executeTakeFirst();
  const own = connection?.user_id === principal.userId;
  if (!connection || (!own && principal.role !== 'admin')) throw new ApiError(404, 'not_found', 'connection not found');
  if (!own) throw new ApiError(403, 'not_connection_owner', 'only the user who connected the account can change its consent');
  if (connection.status === 'revoked') {
    throw new ApiError(409, 'connection_revoked', 'this connection was revoked; connect the account again to share data');
  }
  if (params.policyVersion !== undefined && params.policyVersion !== CURRENT_POLICY_VERSION) {
    throw new ApiError(409, 'policy_version_outdated', 'the consent policy changed since it was shown; show the current one and ask again', {
      currentPolicyVersion: CURRENT_POLICY_VERSION,
    });
  }
  const supported: readonly CategoryId[] = connectorFor(connection.platform)?.manifest.categories ?? CATEGORY_IDS;
  const unsupported = params.categories.filter((cat) => !supported.includes(cat));
  if (unsupported.length) {
    throw new ApiError(400, 'category_not_supported', `${connection.platform} cannot carry: ${unsupported.join(', ')}`, {
      categories: unsupported,
      supported,
    });
  }
  if (params.caseScope.kind === 'cases') {
    const wanted = [...new Set(params.caseScope.caseIds)];
    const found = wanted.length
      ? await services.db
          .selectFrom('cases')
          .select('id')
          .where('organization_id', '=', principal.organizationId)
          .where('id', 'in', wanted)
          .where('deleted_at', 'is', null)
          .execute()
      : [];
    const known = new Set(found.map((r) => r.id));
    const missing = wanted.filter((cid) => !known.has(cid));
    if (missing.length) throw new ApiError(400, 'unknown_case', 'some case ids are not cases of your organization', { caseIds: missing });
  }
  try {
    const consent = await grantConsentAndPublish(services, {
      connectionId: connection.id,
      organizationId: principal.organizationId,
      grantedBy: principal.userId,
      categories: params.categories,
      caseScope: params.caseScope,
      method: params.method,
      ip: params.ip,
      userAgent: params.userAgent,
      attestations: params.attestations,
      policyVersion: CURRENT_POLICY_VERSION,
    });
    // A wider or narrower consent changes what should be on the platform: reconcile now rather
    // than at the next data change or periodic full reconcile.
    if (connection.status === 'active') await services.queues.enqueueSync(connection.id, 'consent');
    return consent;
  } catch (e) {
    if (e instanceof ConsentError) throw new ApiError(400, e.code, e.message, e.details);
    throw e;
  }
}
