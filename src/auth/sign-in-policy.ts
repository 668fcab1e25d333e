import type { Db } from '../db/database.ts';
import type { OrganizationSettings } from '../db/types.ts';
import { recordSecurityEvent } from '../security/events.ts';
import { syncGoogleDomainClaims } from './google-domains.ts';

/** The sign-in part of an organization's settings (the rest of `settings` belongs to others). */
export interface SignInPolicy {
  allowedGoogleDomains: string[];
  jitProvisioning: boolean;
  defaultRole: 'member' | 'admin';
  linkByEmail: boolean;
}

/** The sign-in policy read from an organization's settings. */
export function signInPolicyOf(settings: OrganizationSettings): SignInPolicy {
  return {
    allowedGoogleDomains: settings.allowedGoogleDomains ?? [],
    jitProvisioning: settings.jitProvisioning ?? false,
    defaultRole: settings.defaultRole ?? 'member',
    linkByEmail: settings.linkByEmail ?? false,
  };
}

/** The organization's sign-in policy, or null when the organization does not exist. */
export async function loadSignInPolicy(db: Db, organizationId: string): Promise<SignInPolicy | null> {
  const org = await db.selectFrom('organizations').select('settings').where('id', '=', organizationId).executeTakeFirst();
  return org ? signInPolicyOf(org.settings) : null;
}

/**
 * Merges a change into the organization's settings, leaving other keys as they are. The row is
 * locked so a concurrent change to another setting is not lost. Throws DomainClaimedError (and
 * changes nothing) when a newly admitted Google domain belongs to another organization.
 */
export async function updateSignInPolicy(db: Db, organizationId: string, change: Partial<SignInPolicy>): Promise<SignInPolicy> {
  return db.transaction().execute(async (tx) => {
    const org = await tx.selectFrom('organizations').select('settings').where('id', '=', organizationId).forUpdate().executeTakeFirstOrThrow();
    const next: OrganizationSettings = { ...org.settings };
    if (change.allowedGoogleDomains !== undefined) {
      next.allowedGoogleDomains = [...new Set(change.allowedGoogleDomains.map((d) => d.trim().toLowerCase()))];
      // Admitting a domain claims it (refused when another organization holds it), in the same
      // transaction as the settings, so a refused claim changes nothing.
      await syncGoogleDomainClaims(tx, { organizationId, before: org.settings.allowedGoogleDomains ?? [], after: next.allowedGoogleDomains });
    }
    if (change.jitProvisioning !== undefined) next.jitProvisioning = change.jitProvisioning;
    if (change.defaultRole !== undefined) next.defaultRole = change.defaultRole;
    if (change.linkByEmail !== undefined) next.linkByEmail = change.linkByEmail;
    await tx
      .updateTable('organizations')
      .set({ settings: JSON.stringify(next), updated_at: new Date() })
      .where('id', '=', organizationId)
      .execute();
    return signInPolicyOf(next);
  });
}

/**
 * An administrator's change of the sign-in policy: applied (see `updateSignInPolicy`) and recorded
 * as a `sign_in_policy_updated` security event. The API and the admin page both call this.
 */
export async function changeSignInPolicy(
  db: Db,
  params: { organizationId: string; actorUserId: string; change: Partial<SignInPolicy>; ip: string | null; userAgent: string | null },
): Promise<SignInPolicy> {
  const policy = await updateSignInPolicy(db, params.organizationId, params.change);
  await recordSecurityEvent(db, {
    organizationId: params.organizationId,
    actorUserId: params.actorUserId,
    kind: 'sign_in_policy_updated',
    outcome: 'success',
    method: 'admin',
    ip: params.ip,
    userAgent: params.userAgent,
    details: { change: params.change },
  });
  return policy;
}
