import type { Services } from '../services.ts';
import { transitionConnections } from './state-machine.ts';

/**
 * Connection status transitions that other parts (workers, token refresh, routes) trigger, through
 * the state machine (state-machine.ts), which bumps the revocation epoch so every gate in every
 * process sees the new status at its next call.
 */

/** Plain-words error shown on the connection. */
export interface ConnectionError {
  code: string;
  message: string;
  at: string;
}

export function connectionError(code: string, message: string): ConnectionError {
  return { code, message, at: new Date().toISOString() };
}

/**
 * The grant is gone (`invalid_grant`, missing scope): status `reauth_required`, a plain-words error,
 * no more jobs (waiting/delayed removed, scheduler removed; a running one stops at its next check).
 * Only an `active` connection moves: a revoked one stays revoked. Returns whether it moved.
 */
export async function markReauthRequired(
  services: Pick<Services, 'db' | 'redis' | 'config' | 'logger' | 'queues'>,
  connectionId: string,
  message: string,
): Promise<boolean> {
  const moved =
    (await transitionConnections(services, { ids: [connectionId], to: 'reauth_required', lastError: connectionError('reauth_required', message) })).length > 0;
  if (moved) {
    await services.queues.cancelConnectionJobs([connectionId]);
    services.logger.warn({ connectionId }, 'connection needs re-authorization; its sync jobs were stopped');
  }
  return moved;
}
