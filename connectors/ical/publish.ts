import { LRUCache } from 'lru-cache';
import { loadEventsInScope } from '../../src/cases/queries.ts';
import { redisKey } from '../../src/redis.ts';
import type { Services } from '../../src/services.ts';
import type { FeedCheck, TransferContext, TransferItem } from '../../src/transfers/types.ts';
import type { findLiveFeed, LiveFeed } from './feeds.ts';
import { batchedAdmission } from './fetch-batch.ts';
import { ICAL_PURPOSE } from './manifest.ts';
import { notModifiedItem, projectFeed } from './project.ts';
import { type RenderedFeed, renderFeed } from './render.ts';
import { FeedVersionKeys, fieldSignature, RenderCache } from './render-cache.ts';
import { hashFeedToken } from './tokens.ts';

/**
 * Serving `GET /ical/<token>.ics`. Per request, in order:
 * 1. rate limit per token hash (Redis, ICAL_RATE_LIMIT_PER_MINUTE, a fixed window from the first
 *    fetch) — before the lookup, so unknown and live tokens behave the same way;
 * 2. one indexed lookup by token hash (a cached-plan function, migration 0026): live feed, active
 *    connection and owner, current consent, the organization's data_version (see {@link findLiveFeed});
 *    anything else → the same 404. Steps 1 and 2 of concurrent requests are batched together: one
 *    Redis script call (shared with the gate's leases) and one query per batch (`fetch-batch.ts`);
 * 3. cache look-up by (feed, data version, consent version, …);
 * 4. the gate: a fetch answered 304 from a known ETag, and a HEAD request, are `record`ed — the gate's
 *    checks, then one `not_modified` row (nothing disclosed, nothing to write ahead of), committed before
 *    the answer; any other fetch sends the feed item and `perform` returns the rendering of exactly
 *    the fields the gate released — memoised: when the released field names equal those of the cached
 *    rendering of the same data version, that rendering is reused, else it renders afresh.
 * A HEAD or conditional GET of a token this process has already served (a token hash names one feed
 * for good) is decided on the feed as last looked up: its rate limit is counted in the script call
 * that registers the gate's lease, and step 2 is made by the statement that inserts the row (the row's
 * `FeedCheck`, migration 0030: the feed still live and unchanged — else no row, and the feed is looked
 * up as in step 2). The row still waits for the rate limit and the ETag match; nothing is written when
 * one fails.
 * A gate refusal (withdrawn in between, platform switched off…) is the same 404.
 */

export type FeedFetchResult =
  | { kind: 'not_found' }
  /** A HEAD request: the headers a GET would get, no body; the ETag when it is known without rendering. */
  | { kind: 'head'; etag: string | null }
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'not_modified'; etag: string }
  | { kind: 'ok'; body: Buffer; etag: string };

export interface FeedRequest {
  token: string;
  /** The If-None-Match header, if any. */
  ifNoneMatch: string | null;
  /** A HEAD request: nothing of the feed leaves, so it is recorded as such (one row), not as a transfer. */
  head?: boolean;
  ip: string | null;
  userAgent: string | null;
}

export interface FeedPublisher {
  fetch(request: FeedRequest): Promise<FeedFetchResult>;
  /** The in-process render cache (tests and metrics). */
  readonly cache: RenderCache;
}

/** Whether an If-None-Match header matches a strong ETag (weak comparison, as RFC 9110 §13.1.2 requires). */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const header = ifNoneMatch.trim();
  if (header === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

const NOT_FOUND: FeedFetchResult = { kind: 'not_found' };
const answerWithout = (etag: string | null, request: FeedRequest): FeedFetchResult | null => {
  if (request.head) return { kind: 'head', etag };
  return etag && request.ifNoneMatch && etagMatches(request.ifNoneMatch, etag) ? { kind: 'not_modified', etag } : null;
};

/**
 * A feed this process has served, by token hash: the feed as last looked up, the check its 304s' rows
 * are inserted under (it still is that feed), and the (frozen) item they are logged as.
 */
interface ServedFeed {
  feed: LiveFeed;
  check: FeedCheck;
  notModified: TransferItem;
}

/** What a 304 of the feed is decided on, as the check of its row (see `src/transfers/types.ts#FeedCheck`). */
function feedCheck(tokenHash: string, feed: LiveFeed): FeedCheck {
  return {
    tokenHash,
    feed: [feed.feedId, feed.connectionId, feed.dataVersion, feed.consentId, feed.consentVersion, feed.userEmail, feed.name],
  };
}

const sameCheck = (a: FeedCheck, b: FeedCheck) => a.tokenHash === b.tokenHash && a.feed.every((v, i) => v === b.feed[i]);
const rateLimited = (msBeforeNext: number): FeedFetchResult => ({ kind: 'rate_limited', retryAfterSeconds: Math.max(1, Math.ceil(msBeforeNext / 1000)) });
const ETAG_TTL_SECONDS = 7 * 24 * 3600;

/** Creates the publisher of one process (its rate limiter and render cache). */
export function createFeedPublisher(services: Services): FeedPublisher {
  const { config, db, redis } = services;
  const refreshSeconds = config.ICAL_REFRESH_INTERVAL_MINUTES * 60;
  const admission = batchedAdmission((key, windowMs) => services.gate.countHit(key, windowMs), db, {
    keyOf: (tokenHash) => redisKey(config.REDIS_PREFIX, 'ical', 'rate', tokenHash),
    points: config.ICAL_RATE_LIMIT_PER_MINUTE,
    durationSeconds: 60,
  });
  const cache = new RenderCache(config.ICAL_RENDER_CACHE_MB * 1024 * 1024);
  const versionKeys = new FeedVersionKeys(refreshSeconds);
  // The last ETag per feed, shared by every API process, so a process with a cold cache can still
  // answer 304 without loading and rendering the feed.
  const etagKey = (feedId: string) => redisKey(config.REDIS_PREFIX, 'ical', 'etag', feedId);

  /**
   * ETags this process learned from Redis, per feed with the version key they belong to: a version
   * key names one rendering, so a process that did not render the feed reads its ETag once per
   * version instead of once per conditional GET.
   */
  const learned = new LRUCache<string, { versionKey: string; etag: string }>({ max: 10_000 });

  /** The ETag another process stored for this version of the feed, if any. */
  async function storedEtag(feedId: string, versionKey: string): Promise<string | null> {
    const known = learned.get(feedId);
    if (known?.versionKey === versionKey) return known.etag;
    const stored = await redis.get(etagKey(feedId));
    if (!stored) return null;
    const [key, etag] = stored.split(' ');
    if (key !== versionKey || !etag) return null;
    learned.set(feedId, { versionKey, etag });
    return etag;
  }

  function context(connectionId: string, request: FeedRequest): TransferContext {
    return {
      connectionId,
      purpose: ICAL_PURPOSE,
      actor: { kind: 'feed_fetch', ip: request.ip, userAgent: request.userAgent },
    };
  }

  /**
   * Feeds this process has served, by token hash: a token hash names one feed of one connection for
   * good (a rotation gives the feed a new hash), so knowing them lets a conditional GET of a known
   * token register its lease alongside its rate limit and lookup. Only the pairing is remembered —
   * whether the feed is live is looked up on every request — and a hash whose lookup finds nothing is
   * forgotten.
   */
  const served = new LRUCache<string, ServedFeed>({ max: 10_000 });
  const remember = (tokenHash: string, feed: LiveFeed) => {
    const known = served.get(tokenHash);
    if (known?.feed === feed) return;
    const check = feedCheck(tokenHash, feed);
    if (known && sameCheck(known.check, check)) return;
    const notModified = known?.feed.feedId === feed.feedId ? known.notModified : notModifiedItem(feed.feedId);
    served.set(tokenHash, { feed, check, notModified });
  };

  /** The rate limit, then (allowed) the live feed: unknown and live tokens do the same work. */
  async function admit(tokenHash: string): Promise<FeedFetchResult | LiveFeed> {
    const { limit, feed } = await admission.admit(tokenHash);
    if (!limit.allowed) return rateLimited(limit.msBeforeNext);
    return feed ?? NOT_FOUND;
  }

  /**
   * What a HEAD or conditional GET answers without rendering, or null when it needs the feed itself.
   * Synchronous when this process holds the current rendering (a polled feed); otherwise the ETag
   * another process stored is read from Redis.
   */
  function withoutBody(feed: LiveFeed, request: FeedRequest): FeedFetchResult | null | Promise<FeedFetchResult | null> {
    const versionKey = versionKeys.of(feed);
    const rendered = cache.get(feed.feedId, versionKey)?.rendered;
    if (rendered) return answerWithout(rendered.etag, request);
    return storedEtag(feed.feedId, versionKey).then((etag) => answerWithout(etag, request));
  }

  /**
   * A HEAD or conditional GET of a token this process has served, answered from the feed as last looked
   * up: the rate limit is counted in the script call that registers the gate call's lease, the answer
   * (the ETag of that feed's version) is decided meanwhile, and the `not_modified` row goes in only if
   * the statement inserting it finds the feed still live and unchanged (its `FeedCheck`) — a batch of
   * such polls costs one Redis script call and one statement. Rate limited, the ETag moved, or the feed
   * changed first: no row here (the caller looks the feed up).
   */
  async function knownToken(tokenHash: string, known: ServedFeed, request: FeedRequest) {
    const checked = Promise.all([admission.limit(tokenHash), withoutBody(known.feed, request)]).then(([limit, answer]) =>
      limit.allowed ? answer : rateLimited(limit.msBeforeNext),
    );
    const proceed = checked.then((a) => a !== null && (a.kind === 'head' || a.kind === 'not_modified'));
    const ctx = context(known.feed.connectionId, request);
    const recorded = await services.gate.record(ctx, known.notModified, { providerStatus: request.head ? 200 : 304, proceed, check: known.check });
    return { recorded, answer: await checked };
  }

  return {
    cache,
    async fetch(request) {
      const tokenHash = hashFeedToken(request.token);
      const known = request.head || request.ifNoneMatch ? served.get(tokenHash) : undefined;
      let feed: LiveFeed;
      // Whether this request's answer without a body was already tried (the ETag moved since).
      let tried = false;
      if (known) {
        const fast = await knownToken(tokenHash, known, request);
        if (fast.recorded.outcome === 'blocked') return NOT_FOUND;
        if (fast.recorded.outcome === 'sent') return fast.answer!;
        if (fast.answer?.kind === 'rate_limited') return fast.answer;
        // The ETag moved, or the feed changed (or died) before the row went in: as it is now (its fetch
        // already counted).
        const found = await admission.lookup(tokenHash);
        if (!found) {
          served.delete(tokenHash);
          return NOT_FOUND;
        }
        feed = found;
        tried = sameCheck(feedCheck(tokenHash, found), known.check);
      } else {
        const admitted = await admit(tokenHash);
        if ('kind' in admitted) return admitted;
        feed = admitted;
      }
      if (!tried && (request.head || request.ifNoneMatch)) {
        const answer = await withoutBody(feed, request);
        if (answer) {
          // Nothing leaves: one `not_modified` row after the gate's checks (no intent to write ahead).
          const result = await services.gate.record(context(feed.connectionId, request), notModifiedItem(feed.feedId), {
            providerStatus: request.head ? 200 : 304,
          });
          if (result.outcome === 'blocked') return NOT_FOUND;
          remember(tokenHash, feed);
          return answer;
        }
      }
      remember(tokenHash, feed);
      const versionKey = versionKeys.of(feed);
      const ctx = context(feed.connectionId, request);
      let entry = cache.get(feed.feedId, versionKey);

      if (!entry) {
        const events = await loadEventsInScope(db, { organizationId: feed.organizationId, userEmail: feed.userEmail, caseScope: feed.caseScope });
        entry = { versionKey, projection: projectFeed({ feedId: feed.feedId, events }), rendered: null, renderedFields: null };
      }
      const current = entry;
      let answeredNotModified = false;
      const result = await services.gate.send<RenderedFeed>(ctx, current.projection.item, async (minimised) => {
        const released = fieldSignature(minimised);
        let rendered = current.renderedFields === released ? current.rendered : null;
        if (!rendered) {
          rendered = renderFeed({ options: { name: feed.name, refreshSeconds }, minimised, envelope: current.projection.envelope });
          cache.set(feed.feedId, { ...current, rendered, renderedFields: released });
          await redis.set(etagKey(feed.feedId), `${versionKey} ${rendered.etag}`, 'EX', ETAG_TTL_SECONDS);
        }
        if (request.ifNoneMatch && etagMatches(request.ifNoneMatch, rendered.etag)) {
          answeredNotModified = true;
          return { value: rendered, notModified: true, status: 304 };
        }
        return { value: rendered, status: 200, bytes: rendered.body.byteLength };
      });
      if (result.outcome === 'blocked') return NOT_FOUND;
      if (result.outcome === 'failed') throw result.error;
      if (answeredNotModified) return { kind: 'not_modified', etag: result.value.etag };
      return { kind: 'ok', body: result.value.body, etag: result.value.etag };
    },
  };
}
