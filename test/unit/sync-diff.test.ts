import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CurrentItem, DesiredItem, RemoteItem } from '../../connectors/types.ts';
import { chunk, detectDrift, planReconcile } from '../../src/sync/diff.ts';

const desired = (key: string, hash: string): DesiredItem => ({
  key,
  hash,
  fields: {},
  caseId: 'case',
  subjects: { caseIds: ['case'] },
  remoteId: `r-${key}`,
});
const current = (key: string, hash: string, etag: string | null = null): CurrentItem => ({ key, remoteId: `r-${key}`, hash, etag, caseId: 'case' });

describe('planReconcile', () => {
  it('plans nothing when desired equals what was written', () => {
    const plan = planReconcile({ desired: [desired('a', '1'), desired('b', '2')], current: [current('a', '1'), current('b', '2')] });
    expect(plan.steps).toEqual([]);
    expect(plan.unchanged).toBe(2);
  });

  it('creates new items, updates changed ones and deletes gone ones', () => {
    const plan = planReconcile({
      desired: [desired('a', '1'), desired('b', '3'), desired('c', '4')],
      current: [current('a', '1'), current('b', '2'), current('d', '5')],
    });
    expect(plan.steps.map((s) => [s.op, s.key])).toEqual([
      ['update', 'b'],
      ['create', 'c'],
      ['delete', 'd'],
    ]);
  });

  it('skips an item that failed permanently until its content changes', () => {
    const failed = new Map([
      ['a', 'h1'],
      ['b', 'old'],
    ]);
    const plan = planReconcile({ desired: [desired('a', 'h1'), desired('b', 'new')], current: [], failed });
    expect(plan.skipped).toEqual(['a']);
    expect(plan.steps.map((s) => s.key)).toEqual(['b']);
  });

  it('never plans two steps for a key the projection repeated', () => {
    const plan = planReconcile({ desired: [desired('a', '1'), desired('a', '2')], current: [] });
    expect(plan.steps).toHaveLength(1);
  });

  it('restores drifted items unless the policy says leave them, and removes orphans', () => {
    const cur = [current('a', '1', 'e1'), current('b', '2', 'e2'), current('c', '3', 'e3')];
    const remote: RemoteItem[] = [
      { remoteId: 'r-a', etag: 'e1', deleted: false, key: 'a', ours: true },
      { remoteId: 'r-b', etag: 'e9', deleted: false, key: 'b', ours: true }, // edited by hand
      // r-c missing entirely
      { remoteId: 'r-x', etag: 'e', deleted: false, key: 'x', ours: true }, // left over, not wanted
      { remoteId: 'r-y', etag: 'e', deleted: true, key: 'y', ours: true }, // already deleted
      { remoteId: 'foreign', etag: 'e', deleted: false, key: null, ours: false }, // the user's own event
    ];
    const drift = detectDrift(cur, remote);
    expect([...drift.drifted]).toEqual([
      ['b', 'edited'],
      ['c', 'missing'],
    ]);
    const want = [desired('a', '1'), desired('b', '2'), desired('c', '3')];
    const restore = planReconcile({ desired: want, current: cur, drift, restoreDrift: true });
    expect(restore.steps.map((s) => [s.op, s.key, s.op === 'delete' ? s.current.remoteId : ''])).toEqual([
      ['update', 'b', ''],
      ['update', 'c', ''],
      ['delete', 'x', 'r-x'],
    ]);
    const leave = planReconcile({ desired: want, current: cur, drift, restoreDrift: false });
    expect(leave.steps.map((s) => [s.op, s.key])).toEqual([['delete', 'x']]);
  });

  it('converges: applying any plan to the current state yields the desired state', () => {
    const item = fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), hash: fc.constantFrom('1', '2', '3') });
    fc.assert(
      fc.property(fc.uniqueArray(item, { selector: (i) => i.key }), fc.uniqueArray(item, { selector: (i) => i.key }), (want, have) => {
        const plan = planReconcile({ desired: want.map((i) => desired(i.key, i.hash)), current: have.map((i) => current(i.key, i.hash)) });
        const state = new Map<string, string>(have.map((i) => [i.key, i.hash]));
        for (const s of plan.steps) {
          if (s.op === 'delete') state.delete(s.key);
          else state.set(s.key, s.desired.hash);
        }
        expect(Object.fromEntries(state)).toEqual(Object.fromEntries(want.map((i) => [i.key, i.hash])));
        // And a second pass has nothing left to do.
        const again = planReconcile({ desired: want.map((i) => desired(i.key, i.hash)), current: [...state].map(([k, h]) => current(k, h)) });
        expect(again.steps).toEqual([]);
      }),
    );
  });
});

describe('chunk', () => {
  it('splits in order into pieces of at most the size', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 3)).toEqual([]);
  });
});
