import type { CurrentItem, DesiredItem, PlanStep, RemoteItem } from '../../connectors/types.ts';

/**
 * The reconcile plan, as pure logic: what should be there (desired) against what was last written
 * (current = sync_state), optionally corrected by what the remote side actually holds (drift).
 * Level-triggered: the same inputs always give the same plan, so a crash, a lost or a duplicated
 * job only delays convergence. Nothing changed → no steps.
 */

export interface DriftReport {
  /** Items whose remote copy the user deleted or edited (by key). */
  drifted: Map<string, 'deleted' | 'edited' | 'missing'>;
  /** Remote items stamped with this connection that no current item accounts for. */
  orphans: CurrentItem[];
}

/** Compares the remote listing with sync_state. Pure. */
export function detectDrift(current: readonly CurrentItem[], remote: readonly RemoteItem[]): DriftReport {
  const byId = new Map(remote.map((r) => [r.remoteId, r]));
  const known = new Set(current.map((c) => c.remoteId));
  const drifted = new Map<string, 'deleted' | 'edited' | 'missing'>();
  for (const c of current) {
    const r = byId.get(c.remoteId);
    if (!r) drifted.set(c.key, 'missing');
    else if (r.deleted) drifted.set(c.key, 'deleted');
    else if (c.etag !== null && r.etag !== null && r.etag !== c.etag) drifted.set(c.key, 'edited');
  }
  const orphans: CurrentItem[] = remote
    .filter((r) => r.ours && !r.deleted && !known.has(r.remoteId))
    .map((r) => ({ key: r.key ?? `remote:${r.remoteId}`, remoteId: r.remoteId, hash: '', etag: r.etag, caseId: null }));
  return { drifted, orphans };
}

export interface PlanInput {
  desired: readonly DesiredItem[];
  current: readonly CurrentItem[];
  /** Items that failed permanently with this desired hash: skipped until their content changes. */
  failed?: ReadonlyMap<string, string>;
  /** Drift found by a full reconcile, and whether to restore it. */
  drift?: DriftReport;
  restoreDrift?: boolean;
}

export interface Plan {
  steps: PlanStep[];
  /** Desired items already equal to what was written. */
  unchanged: number;
  /** Keys skipped because they failed permanently with the same content. */
  skipped: string[];
}

/** Builds the plan: creates and updates in desired order, then deletes. */
export function planReconcile(input: PlanInput): Plan {
  const current = new Map(input.current.map((c) => [c.key, c]));
  const desiredKeys = new Set<string>();
  const steps: PlanStep[] = [];
  const skipped: string[] = [];
  let unchanged = 0;
  const restore = input.restoreDrift ?? true;

  for (const d of input.desired) {
    if (desiredKeys.has(d.key)) continue; // a projection bug must not become two remote items
    desiredKeys.add(d.key);
    const c = current.get(d.key);
    const drift = input.drift?.drifted.get(d.key);
    if (!c) {
      if (input.failed?.get(d.key) === d.hash) skipped.push(d.key);
      else steps.push({ op: 'create', key: d.key, desired: d });
    } else if (c.hash !== d.hash) {
      if (input.failed?.get(d.key) === d.hash) skipped.push(d.key);
      else steps.push({ op: 'update', key: d.key, desired: d, current: c, reason: 'changed' });
    } else if (drift && restore) {
      steps.push({ op: 'update', key: d.key, desired: d, current: c, reason: 'drift' });
    } else {
      unchanged += 1;
    }
  }
  for (const c of input.current) {
    if (!desiredKeys.has(c.key)) steps.push({ op: 'delete', key: c.key, current: c, reason: 'gone' });
  }
  for (const o of input.drift?.orphans ?? []) {
    // A desired key is (re)created by its create step (409 → update); anything else is removed.
    if (!desiredKeys.has(o.key) || current.has(o.key)) steps.push({ op: 'delete', key: o.key, current: o, reason: 'orphan' });
  }
  return { steps, unchanged, skipped };
}

/** Splits steps into chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  const n = Math.max(1, Math.floor(size));
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}
