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

/** What a feed's version key depends on besides the organization's data version. */
interface FeedVersionParts {
  consentId: string;
  consentVersion: number;
  userEmail: string;
  name: string;
  refreshSeconds: number;
}

/** The part of a version key after the data version (a digest of the other parts). */
function feedVersionDigest(parts: FeedVersionParts): string {
  return createHash('sha256')
    .update(JSON.stringify([parts.consentId, parts.consentVersion, parts.userEmail, parts.name, parts.refreshSeconds]))
    .digest('base64url')
    .slice(0, 22);
}

/**
 * The key a cached feed is valid for (`<data version>.<digest>`), for the feeds a process serves,
 * remembering each feed's digest: it changes only with the consent, the owner's address or the feed's
 * name, so a fetch of an unchanged feed builds the key without hashing (it is computed on every
 * conditional GET).
 */
export class FeedVersionKeys {
  private readonly digests: LRUCache<string, FeedVersionParts & { digest: string }>;

  constructor(
    private readonly refreshSeconds: number,
    max = 10_000,
  ) {
    this.digests = new LRUCache({ max });
  }

  /** The version key of a feed as looked up now. */
  of(feed: Omit<FeedVersionParts, 'refreshSeconds'> & { feedId: string; dataVersion: number }): string {
    const hit = this.digests.get(feed.feedId);
    if (hit && hit.consentId === feed.consentId && hit.consentVersion === feed.consentVersion && hit.userEmail === feed.userEmail && hit.name === feed.name) {
      return `${feed.dataVersion}.${hit.digest}`;
    }
    const parts: FeedVersionParts = {
      consentId: feed.consentId,
      consentVersion: feed.consentVersion,
      userEmail: feed.userEmail,
      name: feed.name,
      refreshSeconds: this.refreshSeconds,
    };
    const digest = feedVersionDigest(parts);
    this.digests.set(feed.feedId, { ...parts, digest });
    return `${feed.dataVersion}.${digest}`;
  }
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
