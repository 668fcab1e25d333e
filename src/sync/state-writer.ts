import { sql } from 'kysely';
import type { PlanStep, StepResult } from '../../connectors/types.ts';
import type { Db } from '../db/database.ts';
import type { SyncProgress } from './progress.ts';

/**
 * State persistence of a reconcile run: what a chunk did goes to `sync_state` (items written) and
 * `sync_item_errors` (permanent failures). Writes run in order, in the background, overlapping the
 * next chunk's provider calls; every exit of a run flushes them, so a delayed or failed run has
 * saved what it did.
 */
export class StateWriter {
  private chain: Promise<void> = Promise.resolve();

  /** Queues a write after the previous ones. */
  enqueue(write: () => Promise<void>): void {
    this.chain = this.chain.then(write);
    // A failed write surfaces at the next flush(); meanwhile it is not "unhandled".
    this.chain.catch(() => undefined);
  }

  /** Waits for every queued write; rejects with the first failure. */
  flush(): Promise<void> {
    return this.chain;
  }
}

/**
 * Records one chunk's results: counts and the error map now (synchronously), and returns the writer
 * of sync_state (what was written) and sync_item_errors (permanent failures) for the caller to run.
 */
export function recordChunk(
  db: Db,
  connectionId: string,
  steps: PlanStep[],
  results: StepResult[],
  progress: SyncProgress,
  /** Keys with a recorded permanent error (only those need clearing on success); kept up to date. */
  failed: Map<string, string>,
): () => Promise<void> {
  const now = new Date();
  // sync_state rows to upsert, column by column: one array parameter per column (see the writer below).
  const upserts = {
    keys: [] as string[],
    remoteIds: [] as string[],
    hashes: [] as string[],
    etags: [] as Array<string | null>,
    caseIds: [] as Array<string | null>,
  };
  const removed: string[] = [];
  const cleared: string[] = [];
  const errors: Array<{
    connection_id: string;
    item_key: string;
    hash: string;
    operation: string;
    error_class: string;
    provider_status: number | null;
    message: string;
    first_failed_at: Date;
    last_failed_at: Date;
  }> = [];
  results.forEach((r, i) => {
    const s = steps[i]!;
    if (r.outcome === 'done') {
      if (failed.has(s.key)) {
        cleared.push(s.key);
        failed.delete(s.key);
      }
      if (s.op === 'delete') {
        if (s.reason === 'gone') removed.push(s.key);
        progress.done.deleted += 1;
      } else {
        upserts.keys.push(s.key);
        upserts.remoteIds.push(r.remoteId);
        upserts.hashes.push(s.desired.hash);
        upserts.etags.push(r.etag);
        upserts.caseIds.push(s.desired.caseId);
        if (s.op === 'create') progress.done.created += 1;
        else progress.done.updated += 1;
      }
      progress.remaining -= 1;
    } else if (r.outcome === 'blocked') {
      progress.done.blocked += 1;
    } else if (r.outcome === 'failed') {
      progress.done.failed += 1;
      if (r.error.kind === 'permanent' && r.error.code !== 'destination_missing') {
        failed.set(s.key, s.op === 'delete' ? s.current.hash : s.desired.hash);
        errors.push({
          connection_id: connectionId,
          item_key: s.key,
          hash: s.op === 'delete' ? s.current.hash : s.desired.hash,
          operation: s.op,
          error_class: r.error.kind,
          provider_status: r.error.status ?? null,
          message: r.error.message.slice(0, 500),
          first_failed_at: now,
          last_failed_at: now,
        });
        progress.remaining -= 1;
      }
    }
  });
  return async () => {
    if (upserts.keys.length) {
      // One array per column rather than a VALUES row per item: a chunk's 50 rows are 7 parameters
      // to build and send, not 400 (the statement runs twice per 100 items written).
      await sql`
        insert into sync_state (connection_id, item_key, remote_id, hash, etag, case_id, remote_meta, updated_at)
        select ${connectionId}::uuid, u.item_key, u.remote_id, u.hash, u.etag, u.case_id, 'null'::jsonb, ${now}::timestamptz
        from unnest(${upserts.keys}::text[], ${upserts.remoteIds}::text[], ${upserts.hashes}::text[], ${upserts.etags}::text[], ${upserts.caseIds}::uuid[])
          as u(item_key, remote_id, hash, etag, case_id)
        on conflict (connection_id, item_key) do update set
          remote_id = excluded.remote_id, hash = excluded.hash, etag = excluded.etag, case_id = excluded.case_id, updated_at = excluded.updated_at
      `.execute(db);
    }
    if (removed.length) await db.deleteFrom('sync_state').where('connection_id', '=', connectionId).where('item_key', 'in', removed).execute();
    if (cleared.length) await db.deleteFrom('sync_item_errors').where('connection_id', '=', connectionId).where('item_key', 'in', cleared).execute();
    if (errors.length) {
      await db
        .insertInto('sync_item_errors')
        .values(errors)
        .onConflict((oc) =>
          oc.columns(['connection_id', 'item_key']).doUpdateSet((eb) => ({
            hash: eb.ref('excluded.hash'),
            operation: eb.ref('excluded.operation'),
            error_class: eb.ref('excluded.error_class'),
            provider_status: eb.ref('excluded.provider_status'),
            message: eb.ref('excluded.message'),
            last_failed_at: eb.ref('excluded.last_failed_at'),
            attempts: sql`sync_item_errors.attempts + 1`,
          })),
        )
        .execute();
    }
  };
}
