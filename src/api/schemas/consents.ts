import { z } from '@hono/zod-openapi';
import { caseScopeSchema } from '../../consent/case-scope.ts';
import { CATEGORY_IDS } from '../../consent/categories.ts';
import { CURRENT_POLICY_VERSION } from '../../consent/service.ts';
import { INT4_MAX } from '../../db/ranges.ts';
import { pageOf } from '../pagination.ts';

/** A consent version as the API shows it, its case scope, what a grant sends, and a receipt. */

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

/** `{ consent }`: the answer of the routes that grant or read one consent version. */
export const ConsentEnvelopeSchema = z.object({ consent: ConsentSchema });

/** The body of `POST /v1/connections/{id}/consents`: a new consent version. */
export const ConsentGrantSchema = z
  .object({
    categories: z.array(z.enum(CATEGORY_IDS)).min(1).max(CATEGORY_IDS.length),
    caseScope: CaseScopeSchema.default({ kind: 'all' }),
    attestations: z
      .record(z.string(), z.string().max(500))
      .default({})
      .openapi({ description: 'Per category that requires it, the attestation text, word for word' }),
    policyVersion: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: `The consent policy version shown to the user (current: ${CURRENT_POLICY_VERSION})` }),
  })
  .openapi('ConsentGrant');

/** `{ id }` of `/v1/connections/{id}/consent…` routes. */
export const ConsentConnectionParams = z.object({ id: z.uuid() });

/** `{ id, version }` of a receipt: a version beyond the integer column's range cannot exist (a 400, not a database error). */
export const ConsentVersionParams = z.object({ id: z.uuid(), version: z.coerce.number().int().positive().max(INT4_MAX) });

/** The answer of `DELETE /v1/connections/{id}/consent`. */
export const ConsentWithdrawalSchema = z.object({ withdrawn: z.boolean(), withdrawnConsentIds: z.array(z.uuid()), effectiveAt: z.string() });

/** The consent-category registry as the consent screen reads it (`GET /v1/consent-categories`). */
export const ConsentCategoriesSchema = z.object({
  policyVersion: z.string(),
  categories: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      description: z.string(),
      direction: z.enum(['outbound', 'inbound']),
      fields: z.array(z.string()),
      attestation: z.string().nullable(),
      platforms: z.array(z.string()),
    }),
  ),
});

/** A page of a connection's consent history, newest version first. */
export const ConsentPageSchema = pageOf(ConsentSchema, 'ConsentPage');

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
