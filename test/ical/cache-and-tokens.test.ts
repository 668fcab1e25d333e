import { describe, expect, it } from 'vitest';
import { projectFeed } from '../../connectors/ical/project.ts';
import { etagMatches } from '../../connectors/ical/publish.ts';
import type { RenderedFeed } from '../../connectors/ical/render.ts';
import { type CachedFeed, FeedVersionKeys, fieldSignature, RenderCache } from '../../connectors/ical/render-cache.ts';
import { feedUrl, hashFeedToken, mintFeedToken } from '../../connectors/ical/tokens.ts';

describe('feed tokens', () => {
  it('mints 256-bit base64url tokens, stores their SHA-256 and a short hint only', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { token, hash, hint } = mintFeedToken();
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(hash).toBe(hashFeedToken(token));
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(hint).toBe(token.slice(0, 6));
      seen.add(token);
    }
    expect(seen.size).toBe(200);
    expect(feedUrl('https://cb.example/', 'abc')).toBe('https://cb.example/ical/abc.ics');
  });
});

describe('If-None-Match', () => {
  const etag = '"sha256-abc"';
  it('matches the current ETag, in a list, weakly, or *', () => {
    expect(etagMatches('"sha256-abc"', etag)).toBe(true);
    expect(etagMatches('"x", "sha256-abc"', etag)).toBe(true);
    expect(etagMatches('W/"sha256-abc"', etag)).toBe(true);
    expect(etagMatches('*', etag)).toBe(true);
    expect(etagMatches('"sha256-abd"', etag)).toBe(false);
    expect(etagMatches('sha256-abc', etag)).toBe(false);
  });
});

describe('render cache', () => {
  const entry = (versionKey: string, bytes: number): CachedFeed => ({
    versionKey,
    projection: projectFeed({ feedId: 'f', events: [] }),
    rendered: { body: Buffer.alloc(bytes), etag: '"x"', eventCount: 0 } satisfies RenderedFeed,
    renderedFields: '',
  });

  it('serves an entry only for the version key it was built for', () => {
    const cache = new RenderCache(10_000_000);
    cache.set('f1', entry('5.a', 100));
    expect(cache.get('f1', '5.a')).toBeDefined();
    expect(cache.get('f1', '6.a')).toBeUndefined();
    // A stale entry is dropped, not kept beside the new one.
    expect(cache.stats().entries).toBe(0);
  });

  it('stays within its byte bound by evicting the least recently used feeds', () => {
    const cache = new RenderCache(3 * 3 * 1000); // three entries of 1000 bytes (counted ×3)
    for (const id of ['a', 'b', 'c']) cache.set(id, entry('1', 1000));
    expect(cache.get('a', '1')).toBeDefined(); // a is now the most recent
    cache.set('d', entry('1', 1000));
    expect(cache.get('b', '1')).toBeUndefined();
    expect(cache.get('a', '1')).toBeDefined();
    expect(cache.stats()).toEqual({ entries: 3, bytes: 9000 });
    cache.set('huge', entry('1', 100_000));
    expect(cache.get('huge', '1')).toBeUndefined();
  });

  it('keys versions on data version, consent version, owner and name', () => {
    const base = { feedId: 'f', dataVersion: 3, consentId: 'c', consentVersion: 1, userEmail: 'u@x', name: 'n' };
    const keys = new FeedVersionKeys(3600);
    const key = keys.of(base);
    expect(keys.of({ ...base })).toBe(key);
    // The same feed with one part changed (the remembered digest must not be reused), and back.
    for (const change of [{ dataVersion: 4 }, { consentVersion: 2 }, { consentId: 'd' }, { userEmail: 'v@x' }, { name: 'm' }]) {
      expect(keys.of({ ...base, ...change })).not.toBe(key);
      expect(keys.of(base)).toBe(key);
    }
    expect(new FeedVersionKeys(60).of(base)).not.toBe(key);
    expect(fieldSignature({ title: [], description: undefined, start: [] })).toBe('start,title');
  });
});

describe('render cache bounds', () => {
  const entry = (versionKey: string, bytes: number): CachedFeed => ({
    versionKey,
    projection: projectFeed({ feedId: 'f', events: [] }),
    rendered: { body: Buffer.alloc(bytes), etag: '"x"', eventCount: 0 } satisfies RenderedFeed,
    renderedFields: '',
  });

  it('counts a replaced entry once, at its new size', () => {
    const cache = new RenderCache(1_000_000);
    cache.set('f', entry('1', 1000));
    cache.set('f', entry('2', 2000));
    expect(cache.stats()).toEqual({ entries: 1, bytes: 6000 });
    expect(cache.get('f', '2')?.rendered?.body.byteLength).toBe(2000);
  });

  it('drops the entry a too-large replacement would have replaced, and serves nothing stale', () => {
    const cache = new RenderCache(9000);
    cache.set('f', entry('1', 1000));
    cache.set('f', entry('2', 100_000));
    expect(cache.get('f', '1')).toBeUndefined();
    expect(cache.get('f', '2')).toBeUndefined();
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0 });
  });
});
