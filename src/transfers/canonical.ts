import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (recursively), `undefined` members dropped, Dates as ISO-8601
 * strings, no whitespace. Two values that mean the same thing serialise to the same bytes, which is
 * what payload hashes and the transfer log's hash chain need (jsonb does not keep key order).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalise(value)) ?? 'null';
}

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
  return createHash('sha256').update(data).digest('hex');
}
