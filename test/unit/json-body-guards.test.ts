import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonDeeperThan } from '../../src/api/json-depth.ts';
import { findUnstorable } from '../../src/api/text-guard.ts';
import { isStorableText } from '../../src/security/storable-text.ts';

/** How deeply a parsed value nests arrays and objects (a scalar: 0). */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

/** The recursive definition the guard must agree with (what it was before it became iterative). */
function referencePath(value: unknown, path: Array<string | number>): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path.join('.');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = referencePath(value[i], [...path, i]);
      if (found !== null) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!isStorableText(k)) return [...path, JSON.stringify(k).slice(1, -1)].join('.');
      const found = referencePath(v, [...path, k]);
      if (found !== null) return found;
    }
  }
  return null;
}

/** `depth` arrays (or objects under key `k`) around `inner`, built without recursion. */
function nest(depth: number, inner: unknown, kind: 'array' | 'object'): unknown {
  let value = inner;
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { k: value };
  return value;
}

const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('\u0000', 'a\uD800', '\uDC00b', '\uD83D\uDE00', '"', '\\', '[', '{'));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(text, tie('value'), { maxKeys: 4 }),
})).value;

describe('the JSON depth limit', () => {
  it('measures exactly the nesting of the parsed value, whatever the strings hold', () => {
    fc.assert(
      fc.property(json, fc.nat(8), (value, limit) => {
        expect(jsonDeeperThan(JSON.stringify(value), limit)).toBe(depthOf(value) > limit);
      }),
      { numRuns: 2_000 },
    );
  });

  it('stops at the first bracket too deep', () => {
    expect(jsonDeeperThan(`${'['.repeat(65)}`, 64)).toBe(true);
    expect(jsonDeeperThan(`${'['.repeat(64)}${']'.repeat(64)}`, 64)).toBe(false);
    expect(jsonDeeperThan(`"${'['.repeat(1_000)}"`, 64)).toBe(false);
    expect(jsonDeeperThan(`["\\"${'{'.repeat(1_000)}"]`, 64)).toBe(false);
  });
});

describe('the text guard walk', () => {
  it('finds the same first unstorable string or key, with the same path, as the recursive definition', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(findUnstorable(value).path).toBe(referencePath(value, []));
      }),
      { numRuns: 2_000 },
    );
  });

  it.each(['array', 'object'] as const)('does linear work in the depth of nested %ss (twice as deep: twice the steps)', (kind) => {
    for (const inner of ['clean', '\u0000']) {
      const at1000 = findUnstorable(nest(1_000, inner, kind));
      const at2000 = findUnstorable(nest(2_000, inner, kind));
      expect(at2000.path === null).toBe(inner === 'clean');
      // Copying the path at every level made this ratio 4 (quadratic): 1000·1001/2 segment copies.
      expect(at2000.steps / at1000.steps).toBeLessThan(2.05);
      expect(at2000.steps).toBeLessThanOrEqual(3 * 2_000 + 10);
    }
  });

  it('does linear work in the width of a value', () => {
    const wide = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, ['a', { b: 'c' }]]));
    expect(findUnstorable(wide(2_000)).steps / findUnstorable(wide(1_000)).steps).toBeLessThan(2.05);
  });

  it('walks 100,000 levels without overflowing the stack and names the path', () => {
    const found = findUnstorable(nest(100_000, 'x\u0000', 'array'));
    expect(found.path).toBe(Array.from({ length: 100_000 }, () => '0').join('.'));
  });
});
