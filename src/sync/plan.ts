import { sql } from 'kysely';
import type { ConnectorSync, CurrentItem, PlanStep, RemoteItem, SyncContext } from '../../connectors/types.ts';
import type { Db } from '../db/database.ts';
import { detectDrift, planReconcile } from './diff.ts';

/**
 * The planning half of a reconcile run: make sure the destination exists, then desired vs current
 * (vs remote on a full reconcile) → the steps to apply. The diff itself is pure (`diff.ts`); this
 * adds the reads and the few writes that must happen before any step is applied (settings learned
 * while provisioning, state forgotten when the destination was re-created empty, errors of items no
 * longer wanted).
 */

/** What the run found in `sync_state` / `sync_item_errors` when it started. */
export interface RememberedState {
  items: CurrentItem[];
  /** Items that failed permanently, with the hash they failed with. */
  failed: Array<{ key: string; hash: string }>;
}

/**
 * What a run remembers, in one statement (it is read once per run, before anything else happens):
 * the connection's sync_state rows and its items that failed permanently.
 */
export async function loadRemembered(db: Db, connectionId: string): Promise<RememberedState> {
  const { rows } = await sql<{ item_key: string; remote_id: string | null; hash: string; etag: string | null; case_id: string | null; failed: boolean }>`
    select item_key, remote_id, hash, etag, case_id, false as failed from sync_state where connection_id = ${connectionId}
    union all
    select item_key, null, hash, null, null, true from sync_item_errors where connection_id = ${connectionId}
  `.execute(db);
  const remembered: RememberedState = { items: [], failed: [] };
  for (const r of rows) {
    if (r.failed) remembered.failed.push({ key: r.item_key, hash: r.hash });
    else remembered.items.push({ key: r.item_key, remoteId: r.remote_id!, hash: r.hash, etag: r.etag, caseId: r.case_id });
  }
  return remembered;
}

export interface RunPlan {
  steps: PlanStep[];
  planned: { create: number; update: number; delete: number };
  unchanged: number;
  skipped: number;
  /** Keys with a recorded permanent error and its hash; the apply phase keeps it up to date. */
  failed: Map<string, string>;
}

/**
 * Plans one run. `providerStep` runs a connector step that calls the provider (provisioning, listing)
 * with the run's error handling and rate accounting.
 */
export async function planRun(params: {
  db: Db;
  sync: ConnectorSync;
  ctx: SyncContext;
  full: boolean;
  remembered: RememberedState;
  providerStep<T>(fn: () => Promise<T & { calls: number }>): Promise<T & { calls: number }>;
}): Promise<RunPlan> {
  const { db, sync, ctx, full } = params;
  const connectionId = ctx.connection.id;

  // The destination the connector writes into exists; settings learned are kept.
  const prepared = await params.providerStep(() => sync.prepare(ctx, { verify: full }));
  if (prepared.settings && Object.keys(prepared.settings).length) {
    ctx.connection.settings = { ...ctx.connection.settings, ...prepared.settings };
    await db
      .updateTable('connections')
      .set({ settings: sql`settings || ${JSON.stringify(prepared.settings)}::jsonb`, updated_at: new Date() })
      .where('id', '=', connectionId)
      .execute();
  }
  if (prepared.reset) {
    await db.deleteFrom('sync_state').where('connection_id', '=', connectionId).execute();
    await db.deleteFrom('sync_item_errors').where('connection_id', '=', connectionId).execute();
  }

  const desired = await sync.desired({ services: ctx.services, connection: ctx.connection, consent: ctx.consent });
  const current = prepared.reset ? [] : params.remembered.items;
  const failed = new Map(prepared.reset ? [] : params.remembered.failed.map((f) => [f.key, f.hash]));
  let remote: RemoteItem[] | undefined;
  if (full && sync.listRemote) remote = (await params.providerStep(() => sync.listRemote!(ctx))).items;
  const plan = planReconcile({
    desired,
    current,
    failed,
    drift: remote ? detectDrift(current, remote) : undefined,
    restoreDrift: sync.driftPolicy(ctx.connection.settings) === 'restore',
  });

  // Errors of items that are no longer wanted are moot.
  const desiredKeys = new Set(desired.map((d) => d.key));
  const staleErrors = [...failed.keys()].filter((k) => !desiredKeys.has(k));
  for (const k of staleErrors) failed.delete(k);
  if (staleErrors.length) {
    await db.deleteFrom('sync_item_errors').where('connection_id', '=', connectionId).where('item_key', 'in', staleErrors).execute();
  }

  const count = (op: PlanStep['op']) => plan.steps.filter((s) => s.op === op).length;
  return {
    steps: plan.steps,
    planned: { create: count('create'), update: count('update'), delete: count('delete') },
    unchanged: plan.unchanged,
    skipped: plan.skipped.length,
    failed,
  };
}
