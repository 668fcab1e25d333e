import { sql } from 'kysely';
import type { CurrentItem, SyncStateStore } from '../../connectors/types.ts';
import type { Db } from '../db/database.ts';

/** The `sync_state` rows of one connection, as connectors see them (see {@link SyncStateStore}). */
export function syncStateStore(db: Db, connectionId: string): SyncStateStore {
  return {
    async list(): Promise<CurrentItem[]> {
      const rows = await db
        .selectFrom('sync_state')
        .select(['item_key', 'remote_id', 'hash', 'etag', 'case_id'])
        .where('connection_id', '=', connectionId)
        .orderBy('item_key')
        .execute();
      return rows.map((r) => ({ key: r.item_key, remoteId: r.remote_id, hash: r.hash, etag: r.etag, caseId: r.case_id }));
    },
    async upsert(items) {
      if (!items.length) return;
      await db
        .insertInto('sync_state')
        .values(
          items.map((i) => ({
            connection_id: connectionId,
            item_key: i.key,
            remote_id: i.remoteId,
            hash: i.hash,
            etag: i.etag ?? null,
            remote_meta: JSON.stringify(null),
            case_id: i.caseId ?? null,
            updated_at: new Date(),
          })),
        )
        .onConflict((oc) =>
          oc.columns(['connection_id', 'item_key']).doUpdateSet({
            remote_id: sql`excluded.remote_id`,
            hash: sql`excluded.hash`,
            etag: sql`excluded.etag`,
            case_id: sql`excluded.case_id`,
            updated_at: sql`excluded.updated_at`,
          }),
        )
        .execute();
    },
    async remove(keys) {
      if (!keys.length) return;
      await db.deleteFrom('sync_state').where('connection_id', '=', connectionId).where('item_key', 'in', keys).execute();
    },
  };
}
