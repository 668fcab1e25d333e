import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { FeedProjection } from './project.ts';
import type { RenderedFeed } from './render.ts';

/**
 * In-process LRU (`lru-cache`) of feed projections and renderings, one entry per feed, bounded by (approximate)
 * bytes. An entry is valid only for its version key — (organization data_version, consent id and
 * version, owner e-mail, feed name, refresh interval) — so any ingest commit, consent change or rename
 * makes the next fetch rebuild. Polling an unchanged feed is then one map look-up.
 */

/** A cached feed: the projection (the gate item) and, once rendered, the bytes and the field names they came from. */
export interface CachedFeed {
  versionKey: string;
  projection: FeedProjection;
  rendered: RenderedFeed | null;
  /** Sorted, comma-joined names of the minimised fields `rendered` was produced from. */
  renderedFields: string | null;
}

/** The key a cached feed is valid for. */
export function feedVersionKey(parts: {
  dataVersion: number;
  consentId: string;
  consentVersion: number;
  userEmail: string;
  name: string;
  refreshSeconds: number;
}): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([parts.consentId, parts.consentVersion, parts.userEmail, parts.name, parts.refreshSeconds]))
    .digest('base64url')
    .slice(0, 22);
  return `${parts.dataVersion}.${digest}`;
}

/** The names of the fields present in a minimised payload, in a stable form. */
export function fieldSignature(fields: Record<string, unknown>): string {
  return Object.keys(fields)
    .filter((k) => fields[k] !== undefined)
    .sort()
    .join(',');
}

/** Rough memory of an entry: the body plus the projection, which is of the same order as the body. */
function sizeOf(entry: CachedFeed): number {
  return (entry.rendered?.body.byteLength ?? 64 * 1024) * 3;
}

/**
 * The cache of one process: `lru-cache` bounded by {@link sizeOf} bytes. An entry larger than the
 * whole bound is served but not kept; a stale entry (another version key) is dropped on sight.
 */
export class RenderCache {
  private readonly entries: LRUCache<string, CachedFeed>;

  constructor(maxBytes: number) {
    this.entries = new LRUCache<string, CachedFeed>({ maxSize: maxBytes, sizeCalculation: sizeOf });
  }

  /** The feed's entry if it is valid for `versionKey` (and marks it recently used). */
  get(feedId: string, versionKey: string): CachedFeed | undefined {
    const entry = this.entries.get(feedId);
    if (entry && entry.versionKey !== versionKey) {
      this.entries.delete(feedId);
      return undefined;
    }
    return entry;
  }

  /** Keeps (or replaces) the feed's entry, evicting the least recently used feeds beyond the bound. */
  set(feedId: string, entry: CachedFeed): void {
    this.entries.set(feedId, entry);
  }

  /** Forgets the feed's entry (rotation, revocation). */
  delete(feedId: string): void {
    this.entries.delete(feedId);
  }

  /** Entries and approximate bytes held (for metrics and tests). */
  stats(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.entries.calculatedSize };
  }
}
