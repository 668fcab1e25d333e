import type { UserPrincipal } from '../auth/principal.ts';
import { connectionForPrincipal } from '../connections/access.ts';
import type { KeysetCursor } from '../db/page-cursor.ts';
import { CasebridgeError } from '../errors/casebridge-error.ts';
import type { Services } from '../services.ts';
import { type Consent, consentHistory, currentConsent, withdrawConsents } from './service.ts';

/**
 * A signed-in user's consents of one connection: the one in force, every version, and withdrawal.
 * Reading is for the owner and the organization's administrators, withdrawing for the owner only
 * ({@link connectionForPrincipal}). Granting is {@link changeConsent} (src/consent/change.ts).
 */

/** The connection has no consent in force: never granted, or withdrawn. */
export class NoCurrentConsentError extends CasebridgeError {
  constructor() {
    super('no_current_consent', 'this connection has no current consent (never granted, or withdrawn)');
  }
}

/** The consent in force for a connection the principal may see. */
export async function currentConsentOf(services: Services, params: { principal: UserPrincipal; connectionId: string }): Promise<Consent> {
  await connectionForPrincipal(services.db, { ...params, access: 'read' });
  const consent = await currentConsent(services.db, params.connectionId);
  if (!consent) throw new NoCurrentConsentError();
  return consent;
}

/** A page of the consent versions of a connection the principal may see, newest first. */
export async function consentHistoryOf(
  services: Services,
  params: { principal: UserPrincipal; connectionId: string; limit: number; cursor: KeysetCursor<number> | null },
): Promise<{ items: Consent[]; nextCursor: string | null }> {
  await connectionForPrincipal(services.db, { ...params, access: 'read' });
  return consentHistory(services.db, params.connectionId, params);
}

/**
 * The owner withdraws the connection's consent: effective in every process before this returns (the
 * revocation epoch is bumped); what was shared is cleaned up by the revocation pipeline. Nothing in
 * force is not an error: `withdrawnConsentIds` is then empty.
 */
export async function withdrawConnectionConsent(
  services: Services,
  params: { principal: UserPrincipal; connectionId: string },
): Promise<{ withdrawnConsentIds: string[]; effectiveAt: Date }> {
  await connectionForPrincipal(services.db, { ...params, access: 'write' });
  const withdrawnConsentIds = await withdrawConsents(services, { connectionIds: [params.connectionId], actor: params.principal.userId });
  return { withdrawnConsentIds, effectiveAt: new Date() };
}
