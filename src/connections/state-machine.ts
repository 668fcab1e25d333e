import { bumpRevocationEpoch } from '../consent/service.ts';
import type { Db, Tx } from '../db/database.ts';
import type { ConnectionStatus } from '../db/types.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { emitConnectionEvents } from '../webhooks/connection-events.ts';

/**
 * The connection lifecycle, written down once. Every change of `connections.status` in the code
 * base goes through `transitionConnections` (or `applyTransition` inside a caller's transaction), and
 * an architecture test proves nobody else writes the column.
 *
 * ```
 *   pending ──authorized──▶ active ──grant lost──▶ reauth_required ──re-authorized──▶ active
 *                            │  ▲ └─platform off──▶ paused ──────────re-authorized───┘
 *                            └──┘ re-authorized (a reconnect of a live connection)
 *   any of the above ──revoked──▶ revoked   (final: a revoked connection is never used again)
 * ```
 *
 * Every transition changes what the outbound gate may do for the connection, so every one bumps
 * the connection's revocation epoch: each process's gate reloads at its next call.
 */
export const CONNECTION_TRANSITIONS: Readonly<Record<ConnectionStatus, readonly ConnectionStatus[]>> = {
  pending: ['active', 'revoked'],
  active: ['active', 'reauth_required', 'paused', 'revoked'],
  reauth_required: ['active', 'revoked'],
  paused: ['active', 'revoked'],
  revoked: [],
};

/** Whether the lifecycle allows moving a connection from `from` to `to`. */
export function canTransition(from: ConnectionStatus, to: ConnectionStatus): boolean {
  return CONNECTION_TRANSITIONS[from].includes(to);
}

/** The statuses a connection may be in to move to `to`. */
export function statusesLeadingTo(to: ConnectionStatus): ConnectionStatus[] {
  return (Object.keys(CONNECTION_TRANSITIONS) as ConnectionStatus[]).filter((from) => canTransition(from, to));
}

/** Columns a transition may set beside the status (the error shown, the account, when revoked). */
export interface TransitionFacts {
  /** Plain-words error shown on the connection; `null` clears it, absent leaves it. */
  lastError?: { code: string; message: string; at: string } | null;
  /** The provider account the authorization proved (kept when absent or null). */
  externalAccount?: string | null;
  /** When the transition was decided (revoked_at for a revocation). Defaults to now. */
  at?: Date;
}

/**
 * Moves the given connections to `to`, each only from a status the lifecycle allows (checked in the
 * same UPDATE, so a concurrent revocation cannot be undone by a late callback). Returns the ids that
 * moved. Each move is announced to the platform's webhooks (`connection.<status>`, src/webhooks/)
 * in the same transaction — the caller's, or one of its own — so no status change is committed
 * without its event, nor an event without the change. Does NOT bump the epoch: inside a
 * transaction the caller calls `announceTransition` after the commit, so no gate reloads the old row.
 */
export async function applyTransition(db: Db | Tx, params: { ids: readonly string[]; to: ConnectionStatus } & TransitionFacts): Promise<string[]> {
  if (!params.ids.length) return [];
  if (!db.isTransaction) return (db as Db).transaction().execute((tx) => applyTransition(tx, params));
  const at = params.at ?? new Date();
  const rows = await db
    .updateTable('connections')
    .set({
      status: params.to,
      updated_at: at,
      ...(params.to === 'revoked' ? { revoked_at: at } : {}),
      ...(params.lastError !== undefined ? { last_error: JSON.stringify(params.lastError) } : {}),
      ...(params.externalAccount ? { external_account: params.externalAccount } : {}),
    })
    .where('id', 'in', [...params.ids])
    .where('status', 'in', statusesLeadingTo(params.to))
    .returning(['id', 'organization_id', 'user_id', 'platform'])
    .execute();
  await emitConnectionEvents(db, { connections: rows.map((r) => ({ ...r, status: params.to })), code: params.lastError?.code ?? null });
  return rows.map((r) => r.id);
}

/** Makes a committed transition visible to every gate (bumps the revocation epochs). */
export async function announceTransition(deps: { redis: Redis; config: { REDIS_PREFIX: string } }, ids: readonly string[]): Promise<void> {
  await bumpRevocationEpoch(deps.redis, deps.config.REDIS_PREFIX, [...ids]);
}

/** `applyTransition` then `announceTransition`, for callers outside a transaction. */
export async function transitionConnections(
  deps: { db: Db; redis: Redis; config: { REDIS_PREFIX: string } },
  params: { ids: readonly string[]; to: ConnectionStatus } & TransitionFacts,
): Promise<string[]> {
  const moved = await applyTransition(deps.db, params);
  await announceTransition(deps, moved);
  return moved;
}
