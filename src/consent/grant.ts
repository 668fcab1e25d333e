import type { Db, Tx } from '../db/database.ts';
import type { CaseScope } from '../db/types.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { type CategoryId, isCategoryId } from './categories.ts';
import { bumpRevocationEpoch, type Consent, ConsentError, CURRENT_POLICY_VERSION, grantConsent } from './service.ts';

/** The connection a consent is granted for, as the caller loaded it. */
export interface GrantTarget {
  id: string;
  organizationId: string;
  status: string;
  /** Shown in messages, e.g. "Google Calendar". */
  platformName: string;
  /** The categories the platform's connector can carry (its manifest). */
  supportedCategories: readonly CategoryId[];
}

/** What the user chose, plus how and from where it was collected. */
export interface GrantRequest {
  grantedBy: string;
  categories: readonly string[];
  caseScope: CaseScope;
  attestations?: Record<string, string>;
  /** The policy version the client showed; refused when it is not the current one. */
  policyVersion?: string;
  /** Chosen by the caller, never by the client: `consent_screen` only from a page that showed it. */
  method: 'api' | 'consent_screen';
  ip: string | null;
  userAgent: string | null;
}

/**
 * Grants a connection's consent: the one function behind connecting (first version) and re-granting
 * (every later version). It refuses, with a `ConsentError` and nothing written:
 * - `connection_revoked` — a revoked connection never shares again;
 * - `policy_version_outdated` — the client showed a policy that is no longer current;
 * - `category_not_supported` — a category the platform cannot carry (or no category at all);
 * - `unknown_case` — a case of the scope that is not a live case of the organization (deleted
 *   cases count as unknown: consenting to share a tombstone would be a consent to nothing);
 * - `attestation_required`, `no_categories`, `empty_case_scope` — see `grantConsent`.
 *
 * Inside the caller's transaction (`tx`, used when the connection is created in the same commit) the
 * revocation epoch is not bumped: no gate can have cached a connection that does not exist yet.
 * Otherwise the epoch is bumped after the commit, so a narrower consent takes effect at once.
 */
export async function grantConnectionConsent(
  deps: { db: Db; redis: Redis; config: { REDIS_PREFIX: string } },
  params: { connection: GrantTarget; request: GrantRequest; tx?: Tx },
): Promise<Consent> {
  const { connection, request } = params;
  const db = params.tx ?? deps.db;
  if (connection.status === 'revoked') {
    throw new ConsentError('connection_revoked', 'this connection was revoked; connect the account again to share data');
  }
  if (request.policyVersion !== undefined && request.policyVersion !== CURRENT_POLICY_VERSION) {
    throw new ConsentError('policy_version_outdated', 'the consent policy changed since it was shown; show the current one and ask again', {
      currentPolicyVersion: CURRENT_POLICY_VERSION,
    });
  }
  const unsupported = request.categories.filter((c) => !isCategoryId(c) || !connection.supportedCategories.includes(c));
  if (unsupported.length) {
    throw new ConsentError('category_not_supported', `${connection.platformName} cannot carry: ${unsupported.join(', ')}`, {
      categories: unsupported,
      supported: connection.supportedCategories,
    });
  }
  if (request.caseScope.kind === 'cases') {
    const wanted = [...new Set(request.caseScope.caseIds)];
    const found = wanted.length
      ? await db
          .selectFrom('cases')
          .select('id')
          .where('organization_id', '=', connection.organizationId)
          .where('id', 'in', wanted)
          .where('deleted_at', 'is', null)
          .execute()
      : [];
    const known = new Set(found.map((r) => r.id));
    const missing = wanted.filter((id) => !known.has(id));
    if (missing.length) throw new ConsentError('unknown_case', 'some case ids are not cases of your organization', { caseIds: missing });
  }
  const consent = await grantConsent(db, {
    connectionId: connection.id,
    organizationId: connection.organizationId,
    grantedBy: request.grantedBy,
    categories: request.categories as CategoryId[],
    caseScope: request.caseScope,
    method: request.method,
    ip: request.ip,
    userAgent: request.userAgent,
    attestations: request.attestations ?? {},
    policyVersion: CURRENT_POLICY_VERSION,
  });
  if (!params.tx) await bumpRevocationEpoch(deps.redis, deps.config.REDIS_PREFIX, [connection.id]);
  return consent;
}
