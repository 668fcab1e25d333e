import type { Db } from '../db/database.ts';
import { recordSecurityEvent } from '../security/events.ts';
import type { SessionStore } from './session-store.ts';
import { findUser } from './users.ts';

/**
 * An administrator ends one (`handle`) or all of a user's sessions, recorded as a
 * `session_ended_by_admin` security event. Returns how many ended, or null when the user is not in
 * the administrator's organization (nothing is ended then). The API and the admin page call this.
 */
export async function endUserSessions(
  stores: { db: Db; sessions: SessionStore },
  params: { organizationId: string; actorUserId: string; userId: string; handle?: string; ip: string | null; userAgent: string | null },
): Promise<number | null> {
  if (!(await findUser(stores.db, params.organizationId, params.userId))) return null;
  const ended = await stores.sessions.endForUser(params.userId, params.handle);
  // A named session that was not there ended nothing: no event (the caller answers not found).
  if (params.handle && ended === 0) return 0;
  await recordSecurityEvent(stores.db, {
    organizationId: params.organizationId,
    userId: params.userId,
    actorUserId: params.actorUserId,
    kind: 'session_ended_by_admin',
    outcome: 'success',
    method: 'admin',
    ip: params.ip,
    userAgent: params.userAgent,
    details: { sessionsEnded: ended, ...(params.handle ? { handle: params.handle } : { all: true }) },
  });
  return ended;
}
