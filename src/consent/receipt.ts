import type { JwsType } from '../transfers/signing.ts';
import { CATEGORIES, type CategoryId } from './categories.ts';
import type { Consent } from './service.ts';

/**
 * A consent receipt in the shape of the Kantara Initiative Consent Receipt Specification v1.1
 * (fields used where they apply; Casebridge-specific facts under `casebridge`). Pure: the route
 * loads the consent, connection and organization and signs the result.
 */

/**
 * The `typ` of a consent receipt's JWS. Receipts are signed when asked for (`GET
 * …/consents/{version}/receipt`): compact JWS, EdDSA, payload the RFC 8785 form of the receipt.
 * Receipts handed out before were `{ receipt, signature }` with a detached Ed25519 signature over
 * the project's canonical JSON (`verifyJson` still checks those).
 */
export const CONSENT_RECEIPT_JWS_TYPE: JwsType = 'consent-receipt+jws';

/** Categories whose data may reveal special-category or criminal-offence data (GDPR Art. 9, 10). */
const SENSITIVE: ReadonlySet<CategoryId> = new Set(['calendar.events.details', 'documents.files']);

export interface ReceiptContext {
  consent: Consent;
  connection: { id: string; platform: string; externalAccount: string | null; displayName: string };
  organization: { id: string; name: string };
  grantedBy: { id: string; email: string };
  publicBaseUrl: string;
  jurisdiction?: string;
  language?: string;
}

/** The receipt of one consent version (unsigned; the route signs it as a JWS). */
export function buildConsentReceipt(ctx: ReceiptContext) {
  const { consent, connection, organization } = ctx;
  const piiCategories = consent.categories.map((c) => CATEGORIES[c].title);
  const sensitive = consent.categories.filter((c) => SENSITIVE.has(c));
  return {
    version: 'KI-CR-v1.1.0' as const,
    jurisdiction: ctx.jurisdiction ?? 'EU',
    consentTimestamp: Math.floor(consent.grantedAt.getTime() / 1000),
    collectionMethod: consent.method === 'consent_screen' ? 'Consent screen in the Casebridge web application' : 'Casebridge API',
    consentReceiptID: consent.id,
    language: ctx.language ?? 'en',
    piiPrincipalId: ctx.grantedBy.email,
    piiControllers: [
      {
        piiController: organization.name,
        onBehalf: false,
        piiControllerUrl: ctx.publicBaseUrl,
      },
    ],
    policyUrl: `${ctx.publicBaseUrl}/privacy/consent-policy/${encodeURIComponent(consent.policyVersion)}`,
    services: [
      {
        service: `Sharing case data with ${connection.displayName}`,
        purposes: consent.categories.map((c, i) => ({
          purpose: CATEGORIES[c].description,
          purposeCategory: [CATEGORIES[c].direction === 'inbound' ? 'Import into case management' : 'Sharing with an Additional Platform'],
          consentType: 'EXPLICIT' as const,
          piiCategory: [CATEGORIES[c].title],
          primaryPurpose: i === 0,
          termination: `Until withdrawn: DELETE /v1/connections/${connection.id}/consent, or by disconnecting the account`,
          thirdPartyDisclosure: CATEGORIES[c].direction === 'outbound',
          thirdPartyName: CATEGORIES[c].direction === 'outbound' ? [connection.displayName, connection.externalAccount].filter(Boolean).join(' — ') : undefined,
        })),
      },
    ],
    piiCategory: piiCategories,
    sensitive: sensitive.length > 0,
    spiCat: sensitive.map((c) => `${CATEGORIES[c].title} (may include special-category or criminal-offence data)`),
    casebridge: {
      consentVersion: consent.version,
      connectionId: connection.id,
      platform: connection.platform,
      organizationId: organization.id,
      categories: consent.categories,
      fields: Object.fromEntries(consent.categories.map((c) => [c, [...CATEGORIES[c].fields]])),
      caseScope: consent.caseScope,
      policyVersion: consent.policyVersion,
      attestations: consent.attestations,
      collectedFrom: { ip: consent.ip, userAgent: consent.userAgent },
      withdrawnAt: consent.withdrawnAt?.toISOString() ?? null,
      withdrawnBy: consent.withdrawnBy,
    },
  };
}

export type ConsentReceipt = ReturnType<typeof buildConsentReceipt>;
