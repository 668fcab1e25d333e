import { z } from '@hono/zod-openapi';
import { caseScopeSchema } from '../../consent/case-scope.ts';
import type { Consent } from '../../consent/service.ts';

/** A consent version as the API shows it, and its case scope. */

/** One case-scope schema for every route (src/consent/case-scope.ts): all, listed cases, or practice areas. */
export const CaseScopeSchema = caseScopeSchema;

export const ConsentSchema = z
  .object({
    id: z.uuid(),
    connectionId: z.uuid(),
    version: z.number().int(),
    grantedBy: z.uuid(),
    categories: z.array(z.string()),
    caseScope: CaseScopeSchema,
    policyVersion: z.string(),
    method: z.enum(['api', 'consent_screen']),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    attestations: z.record(z.string(), z.string()),
    grantedAt: z.string(),
    withdrawnAt: z.string().nullable(),
    withdrawnBy: z.string().nullable(),
    current: z.boolean(),
    receiptUrl: z.string(),
  })
  .openapi('Consent');

/** A connection's consent history: every version in one page (a connection has a handful). */
export const ConsentPageSchema = z
  .object({ items: z.array(ConsentSchema), nextCursor: z.null().openapi({ description: 'Always null: the history is one page' }) })
  .openapi('ConsentPage');

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

const PurposeSchema = z.object({
  purpose: z.string(),
  purposeCategory: z.array(z.string()),
  consentType: z.literal('EXPLICIT'),
  piiCategory: z.array(z.string()),
  primaryPurpose: z.boolean(),
  termination: z.string(),
  thirdPartyDisclosure: z.boolean(),
  thirdPartyName: z.string().optional(),
});

/** A consent receipt: the Kantara Consent Receipt v1.1 fields, plus Casebridge's own (see src/consent/receipt.ts). */
export const ConsentReceiptSchema = z
  .object({
    version: z.literal('KI-CR-v1.1.0'),
    jurisdiction: z.string(),
    consentTimestamp: z.number().int().openapi({ description: 'seconds since the epoch' }),
    collectionMethod: z.string(),
    consentReceiptID: z.uuid(),
    language: z.string(),
    piiPrincipalId: z.string(),
    piiControllers: z.array(z.object({ piiController: z.string(), onBehalf: z.boolean(), piiControllerUrl: z.string() })),
    policyUrl: z.string(),
    services: z.array(z.object({ service: z.string(), purposes: z.array(PurposeSchema) })),
    piiCategory: z.array(z.string()),
    sensitive: z.boolean(),
    spiCat: z.array(z.string()),
    casebridge: z.object({
      consentVersion: z.number().int(),
      connectionId: z.uuid(),
      platform: z.string(),
      organizationId: z.uuid(),
      categories: z.array(z.string()),
      fields: z.record(z.string(), z.array(z.string())),
      caseScope: CaseScopeSchema,
      policyVersion: z.string(),
      attestations: z.record(z.string(), z.string()),
      collectedFrom: z.object({ ip: z.string().nullable(), userAgent: z.string().nullable() }),
      withdrawnAt: z.string().nullable(),
      withdrawnBy: z.string().nullable(),
    }),
  })
  .openapi('ConsentReceipt');
