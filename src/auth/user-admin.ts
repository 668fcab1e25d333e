import { recordAudit } from '../audit/audit-log.ts';
import type { Db } from '../db/database.ts';
import { NotFoundError } from '../errors/not-found-error.ts';
import { recordSecurityEvent } from '../security/events.ts';
import { type IdentityView, unlinkIdentity } from './identities.ts';
import type { SessionStore } from './session-store.ts';
import { updateUser } from './users.ts';

/**
 * An organization administrator manages its users: role and status, and the sign-in identities
 * linked to them. Each change ends the sessions it invalidates and is recorded as a security event
 * (an unlink in the audit log too). `not_found` for a user or identity outside the organization.
 */

interface Actor {
  organizationId: string;
  actorUserId: string;
  ip: string | null;
  userAgent: string | null;
}

/**
 * Changes a user's role and/or status. Disabling ends all the user's sessions at once; the
 * organization always keeps one active administrator (`LastAdminError`, src/auth/users.ts).
 */
export async function changeUserAsAdmin(
  stores: { db: Db; sessions: SessionStore },
  params: Actor & { userId: string; role?: 'member' | 'admin'; status?: 'active' | 'disabled' },
): Promise<{ user: { id: string; role: string; status: string }; sessionsEnded: number }> {
  const result = await updateUser(stores.db, { organizationId: params.organizationId, userId: params.userId, role: params.role, status: params.status });
  if (!result) throw new NotFoundError('user');
  const sessionsEnded = result.after.status === 'disabled' ? await stores.sessions.endForUser(params.userId) : 0;
  await recordSecurityEvent(stores.db, {
    organizationId: params.organizationId,
    userId: params.userId,
    actorUserId: params.actorUserId,
    kind: 'user_updated',
    outcome: 'success',
    method: 'admin',
    ip: params.ip,
    userAgent: params.userAgent,
    details: { before: result.before, after: result.after, sessionsEnded },
  });
  return { user: { id: params.userId, ...result.after }, sessionsEnded };
}

/**
 * Unlinks a sign-in identity from a user: the next sign-in with it is resolved afresh by the
 * sign-in policy, and the sessions it opened end now.
 */
export async function unlinkIdentityAsAdmin(
  stores: { db: Db; sessions: SessionStore },
  params: Actor & { userId: string; identityId: string },
): Promise<{ identity: Omit<IdentityView, 'userId'>; sessionsEnded: number }> {
  const { organizationId, userId, identityId } = params;
  const identity = await unlinkIdentity(stores.db, { organizationId, userId, identityId });
  if (!identity) throw new NotFoundError('identity');
  let sessionsEnded = 0;
  for (const { handle, session } of await stores.sessions.listForUser(userId)) {
    if (session.identityId === identityId) sessionsEnded += await stores.sessions.endForUser(userId, handle);
  }
  const { userId: _user, ...shown } = identity;
  await recordAudit(stores.db, {
    organizationId,
    actor: { kind: 'user', userId: params.actorUserId },
    action: 'identity.unlink',
    target: `identity:${identityId}`,
    details: { userId, provider: identity.provider, issuer: identity.issuer, sessionsEnded },
  });
  await recordSecurityEvent(stores.db, {
    organizationId,
    userId,
    actorUserId: params.actorUserId,
    kind: 'identity_unlinked',
    outcome: 'success',
    method: 'admin',
    ip: params.ip,
    userAgent: params.userAgent,
    details: { ...shown, sessionsEnded },
  });
  return { identity: shown, sessionsEnded };
}
