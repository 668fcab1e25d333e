import { z } from '@hono/zod-openapi';
import type { Consent } from '../../consent/service.ts';

/** A consent version as the API shows it, and its case scope. */

export const CaseScopeSchema = z
  .discriminatedUnion('kind', [z.object({ kind: z.literal('all') }), z.object({ kind: z.literal('cases'), caseIds: z.array(z.uuid()).min(1).max(1000) })])
  .openapi('CaseScope', { description: 'All of the user’s cases, or only the listed ones' });

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
