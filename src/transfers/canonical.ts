import crypto, { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (recursively), `undefined` members dropped, Dates as ISO-8601
 * strings, no whitespace. Two values that mean the same thing serialise to the same bytes, which is
 * what payload hashes and the transfer log's hash chain need (jsonb does not keep key order).
 */
export function canonicalJson(value: unknown): string {
  // Fast path: an array of strings, finite numbers, booleans and nulls serialises the same either way.
  if (Array.isArray(value) && value.every(isPlainScalar)) return JSON.stringify(value);
  return JSON.stringify(normalise(value)) ?? 'null';
}

const isPlainScalar = (v: unknown): boolean => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function normalise(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : normalise(v)));
  if (typeof value === 'object') {
    const src = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(src).sort()) {
      if (src[key] !== undefined) out[key] = normalise(src[key]);
    }
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Lower-case hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  // One-shot `crypto.hash` (Node ≥ 20.12) skips the Hash object; same digest.
  return oneShot ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash;

/**
 * Deep-freezes plain objects and arrays (in place) and returns the value. A payload frozen this way
 * cannot change any more, which lets the gate and the transfer log memoise its canonical hash (see
 * {@link digestOfFrozen}): a feed fetched again and again from the render cache is hashed once.
 * Dates, Buffers, Maps and other non-plain objects are left as they are (and make the value
 * non-memoisable), since freezing does not stop them from changing.
 */
export function freezeDeep<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  if (!Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  for (const v of Object.values(value as object)) freezeDeep(v);
  return Object.freeze(value);
}

/** Objects already checked to be deeply frozen: they and everything they reach can never change again. */
const deeplyFrozen = new WeakSet<object>();

/**
 * Records that `value` — built by the caller as a frozen plain object or array whose members are
 * primitives or values already known deeply frozen, with no accessors — can never change, so
 * {@link isDeepFrozen} answers at once instead of walking it. Only for values the caller constructed
 * itself (e.g. `normaliseSubjects`' output); anything else goes through {@link freezeDeep}.
 */
export function deepFrozenByConstruction<T extends object>(value: T): T {
  deeplyFrozen.add(value);
  return value;
}

/**
 * Whether a value can never change again: a primitive, or a frozen plain object/array whose members
 * are all (recursively) the same. Once true for an object it stays true, so the answer is remembered.
 */
export function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function';
  if (deeplyFrozen.has(value)) return true;
  if (!Object.isFrozen(value)) return false;
  if (Array.isArray(value)) {
    // Payload columns are long arrays of primitives: checked element by element (data properties only
    // in practice — payloads come from JSON-shaped projections, never from objects with getters).
    for (const v of value) if (v !== null && typeof v === 'object' ? !isDeepFrozen(v) : typeof v === 'function') return false;
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    // Frozen means no accessor can be added, but one defined before freezing could compute anything.
    for (const d of Object.values(Object.getOwnPropertyDescriptors(value))) {
      if (!('value' in d) || !isDeepFrozen(d.value)) return false;
    }
  }
  deeplyFrozen.add(value);
  return true;
}

/** SHA-256 (hex) and UTF-8 byte length of a value's canonical JSON. */
export interface CanonicalDigest {
  sha256: string;
  bytes: number;
}

const digests = new WeakMap<object, Map<string, CanonicalDigest>>();

/**
 * `{ sha256, bytes }` of the canonical JSON of `pick(source, keys)` — the members of `source` named
 * by `keys` (absent or undefined members skipped). When `source` is deeply frozen the result is
 * memoised per (source, keys): it cannot differ on the next call. Otherwise it is computed each time.
 */
export function canonicalDigest(source: Record<string, unknown>, keys?: readonly string[]): CanonicalDigest {
  const picked = keys ? pick(source, keys) : source;
  if (!isDeepFrozen(source)) return digestOf(picked);
  const memoKey = keys ? [...keys].sort().join('\u0000') : '\u0001all';
  let perSource = digests.get(source);
  if (!perSource) {
    perSource = new Map();
    digests.set(source, perSource);
  }
  let hit = perSource.get(memoKey);
  if (!hit) {
    hit = digestOf(picked);
    perSource.set(memoKey, hit);
  }
  return hit;
}

function pick(source: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (Object.hasOwn(source, k) && source[k] !== undefined) out[k] = source[k];
  return out;
}

function digestOf(value: unknown): CanonicalDigest {
  const json = canonicalJson(value);
  return { sha256: sha256Hex(json), bytes: Buffer.byteLength(json) };
}
