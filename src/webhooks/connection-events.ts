import type { Db, Tx } from '../db/database.ts';
import type { ConnectionStatus } from '../db/types.ts';
import { connectionEventFor } from './events.ts';
import { type AnyWebhookEvent, emitWebhookEvent, emitWebhookEvents } from './outbox.ts';

/**
 * The connection and sync events, emitted where the facts are written: status changes by the state
 * machine (src/connections/state-machine.ts), creation by whoever inserts a connection, sync
 * failure and recovery by the sync and import workers. Each takes the caller's transaction.
 */

export interface ConnectionFacts {
  id: string;
  organization_id: string;
  user_id: string | null;
  platform: string;
  status: ConnectionStatus;
}

/** `connection.<status>` for committed status changes, all in one write (`connection.reauth_required` carries the error code). */
export async function emitConnectionEvents(db: Db | Tx, params: { connections: readonly ConnectionFacts[]; code?: string | null }): Promise<void> {
  const events: AnyWebhookEvent[] = [];
  for (const c of params.connections) {
    const type = connectionEventFor(c.status);
    if (!type) continue;
    const facts = { connectionId: c.id, userId: c.user_id, platform: c.platform, status: c.status };
    events.push(
      type === 'connection.reauth_required'
        ? { organizationId: c.organization_id, type, data: { ...facts, code: params.code ?? null } }
        : { organizationId: c.organization_id, type, data: facts },
    );
  }
  await emitWebhookEvents(db, events);
}

/** `connection.created` for a new connection row. */
export async function emitConnectionCreated(db: Db | Tx, connection: ConnectionFacts): Promise<void> {
  await emitWebhookEvent(db, {
    organizationId: connection.organization_id,
    type: 'connection.created',
    data: { connectionId: connection.id, userId: connection.user_id, platform: connection.platform, status: connection.status },
  });
}

async function connectionFacts(db: Db | Tx, connectionId: string) {
  return db.selectFrom('connections').select(['id', 'organization_id', 'platform']).where('id', '=', connectionId).executeTakeFirst();
}

/**
 * A sync (or import) run failed for good (a permanent error, or the last retry): `sync.failed`,
 * once per failure episode — further failures before a success send nothing.
 */
export async function recordSyncFailed(db: Db, params: { connectionId: string; code: string }): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const c = await connectionFacts(tx, params.connectionId);
    if (!c) return false;
    const inserted = await tx
      .insertInto('webhook_sync_failures')
      .values({ connection_id: c.id, code: params.code.slice(0, 64) })
      .onConflict((oc) => oc.column('connection_id').doNothing())
      .returning('connection_id')
      .executeTakeFirst();
    if (!inserted) return false;
    await emitWebhookEvent(tx, {
      organizationId: c.organization_id,
      type: 'sync.failed',
      data: { connectionId: c.id, platform: c.platform, code: params.code.slice(0, 64) },
    });
    return true;
  });
}

/** A run succeeded: `sync.recovered` when the connection's sync had failed before (else nothing). */
export async function recordSyncSucceeded(db: Db, connectionId: string): Promise<boolean> {
  // Cheap check first: almost every run has nothing to recover from.
  const failing = await db.selectFrom('webhook_sync_failures').select('connection_id').where('connection_id', '=', connectionId).executeTakeFirst();
  if (!failing) return false;
  return db.transaction().execute(async (tx) => {
    const deleted = await tx.deleteFrom('webhook_sync_failures').where('connection_id', '=', connectionId).returning('connection_id').executeTakeFirst();
    if (!deleted) return false;
    const c = await connectionFacts(tx, connectionId);
    if (!c) return false;
    await emitWebhookEvent(tx, { organizationId: c.organization_id, type: 'sync.recovered', data: { connectionId: c.id, platform: c.platform } });
    return true;
  });
}
