import { connectors } from '../../connectors/registry.ts';
import { CATEGORIES, CATEGORY_IDS } from '../consent/categories.ts';
import { type Consent, CURRENT_POLICY_VERSION } from '../consent/service.ts';

/**
 * How the consent routes answer: a stored consent version as the API shows it, a withdrawal, and
 * the category registry (src/consent/categories.ts) with the platforms that carry each category.
 */

/** A stored consent version → its API view. */
export function consentView(c: Consent) {
  return {
    id: c.id,
    connectionId: c.connectionId,
    version: c.version,
    grantedBy: c.grantedBy,
    categories: c.categories,
    caseScope: c.caseScope,
    policyVersion: c.policyVersion,
    method: c.method,
    ip: c.ip,
    userAgent: c.userAgent,
    attestations: c.attestations,
    grantedAt: c.grantedAt.toISOString(),
    withdrawnAt: c.withdrawnAt?.toISOString() ?? null,
    withdrawnBy: c.withdrawnBy,
    current: c.withdrawnAt === null,
    receiptUrl: `/v1/connections/${c.connectionId}/consents/${c.version}/receipt`,
  };
}

/** A withdrawal's answer: whether anything was in force, what was withdrawn, and when it took effect. */
export function withdrawalView(w: { withdrawnConsentIds: string[]; effectiveAt: Date }) {
  return { withdrawn: w.withdrawnConsentIds.length > 0, withdrawnConsentIds: w.withdrawnConsentIds, effectiveAt: w.effectiveAt.toISOString() };
}

/** The consent-category registry for the consent screen, each category with the platforms that can carry it. */
export function consentCategoriesView() {
  return {
    policyVersion: CURRENT_POLICY_VERSION,
    categories: CATEGORY_IDS.map((id) => ({
      id,
      title: CATEGORIES[id].title,
      description: CATEGORIES[id].description,
      direction: CATEGORIES[id].direction,
      fields: [...CATEGORIES[id].fields],
      attestation: CATEGORIES[id].attestation ?? null,
      platforms: connectors.filter((k) => k.manifest.categories.includes(id)).map((k) => k.manifest.id),
    })),
  };
}
