import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';

/**
 * The iCal part of the chaos run (bench/chaos.ts): feeds of a share of the users, a poller that
 * fetches them through both API processes (plain and conditional GETs) while the faults happen, and
 * the checks once it settles — same bytes and ETag from either process, content equal to the desired
 * events in scope, one transfer-log row per answered fetch and none without one, nothing served by a
 * revoked feed after its revocation was answered.
 */

/** A feed of the run. */
export interface ChaosFeed {
  /** Position among the run's feeds (for messages: never the token). */
  index: number;
  feedId: string;
  connectionId: string;
  /** The owner's e-mail (the feed shows the cases assigned to it). */
  email: string;
  /** `/ical/<token>.ics` */
  path: string;
  /** null: all cases assigned to the owner; else these case ids. */
  caseIds: string[] | null;
  /** When the revocation of the feed's connection was answered (202), if revoked. */
  revokedAt?: number;
}

/** The answers of one feed, by status (`0`: no answer — the request itself failed). */
export interface FeedTally {
  byStatus: Map<number, number>;
  /** Answers to requests sent after the feed's revocation was answered, by status. */
  afterRevocation: Map<number, number>;
}

const bump = (m: Map<number, number>, k: number) => m.set(k, (m.get(k) ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fetches feeds through the API processes and counts every answer. */
export class FeedPoller {
  readonly tallies = new Map<string, FeedTally>();
  private readonly etags = new Map<string, string>();
  private running = false;
  private loops: Array<Promise<void>> = [];
  private turn = 0;

  constructor(
    readonly feeds: ChaosFeed[],
    readonly apiUrls: string[],
  ) {
    for (const f of feeds) this.tallies.set(f.feedId, { byStatus: new Map(), afterRevocation: new Map() });
  }

  /** One GET of a feed through API process `api`; conditional sends the last ETag seen (from either process). */
  async get(feed: ChaosFeed, api: number, conditional: boolean): Promise<{ status: number; etag: string | null; body: Buffer | null }> {
    const startedAt = Date.now();
    const known = conditional ? this.etags.get(feed.feedId) : undefined;
    const tally = this.tallies.get(feed.feedId)!;
    let status = 0;
    let etag: string | null = null;
    let body: Buffer | null = null;
    try {
      const res = await fetch(`${this.apiUrls[api]}${feed.path}`, { headers: known ? { 'if-none-match': known } : {} });
      status = res.status;
      etag = res.headers.get('etag');
      body = Buffer.from(await res.arrayBuffer());
    } catch {
      status = 0;
    }
    bump(tally.byStatus, status);
    if (feed.revokedAt !== undefined && startedAt > feed.revokedAt) bump(tally.afterRevocation, status);
    if ((status === 200 || status === 304) && etag) this.etags.set(feed.feedId, etag);
    return { status, etag, body };
  }

  /** Polls until {@link stop}: `concurrency` loops, each taking the next feed, API process and kind of GET in turn. */
  start(concurrency = 2, pauseMs = 40): void {
    this.running = true;
    for (let i = 0; i < concurrency; i++) {
      this.loops.push(
        (async () => {
          while (this.running) {
            const n = this.turn++;
            const feed = this.feeds[n % this.feeds.length]!;
            await this.get(feed, Math.floor(n / this.feeds.length) % this.apiUrls.length, n % 3 !== 0);
            await sleep(pauseMs);
          }
        })(),
      );
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Answers of every feed, by status. */
  totals(): Map<number, number> {
    const all = new Map<number, number>();
    for (const t of this.tallies.values()) for (const [s, n] of t.byStatus) all.set(s, (all.get(s) ?? 0) + n);
    return all;
  }
}

export interface IcalReport {
  feeds: number;
  revokedFeeds: number;
  /** Every answer the poller got (during the run and the final checks), by HTTP status; `0` = no answer. */
  answers: Record<string, number>;
  /** Live feeds answering 200 with the same bytes and ETag from both API processes (and 304 to that ETag from the other). */
  sameBytesAndEtag: number;
  /** Events the live feeds should show (their scope ∩ the cases assigned to the owner). */
  desiredEvents: number;
  missing: number;
  duplicates: number;
  /** Events in a feed that are not in its scope. */
  outOfScope: number;
  /** `sent` and `not_modified` rows of the feeds' connections. */
  rows: { sent: number; notModified: number; other: Record<string, number> };
  /** Answers to requests sent to a revoked feed after its revocation's 202, by status. */
  afterRevocation: Record<string, number>;
  /** 200 or 304 answers of a revoked feed after its revocation's 202 (goal: 0). */
  servedAfterRevocation: number;
  /** Everything that is not as it should be (empty when all is well). */
  problems: string[];
}

/** Event ids of an iCal body (its UIDs, `<event id>@casebridge`), in order, duplicates kept. */
export function feedEventIds(body: string): string[] {
  const unfolded = body.replace(/\r\n[ \t]/g, '');
  return [...unfolded.matchAll(/^UID:(.+)@casebridge\r?$/gm)].map((m) => m[1]!);
}

async function desiredEventIds(db: Db, feed: ChaosFeed): Promise<Set<string>> {
  let q = db
    .selectFrom('case_events as e')
    .innerJoin('cases as c', 'c.id', 'e.case_id')
    .select('e.id')
    .where('e.deleted_at', 'is', null)
    .where('c.deleted_at', 'is', null)
    .where(sql<boolean>`c.assignees @> ${JSON.stringify([feed.email])}::jsonb`);
  if (feed.caseIds) q = q.where('c.id', 'in', feed.caseIds);
  return new Set((await q.execute()).map((r) => r.id));
}

/** The checks once the run has settled (the poller stopped). Its final GETs are counted too. */
export async function checkFeeds(db: Db, poller: FeedPoller): Promise<IcalReport> {
  const problems: string[] = [];
  let sameBytesAndEtag = 0;
  let desiredEvents = 0;
  let missing = 0;
  let duplicates = 0;
  let outOfScope = 0;
  for (const feed of poller.feeds) {
    const name = `feed ${feed.index}`;
    if (feed.revokedAt !== undefined) {
      for (let api = 0; api < poller.apiUrls.length; api++) {
        const { status } = await poller.get(feed, api, false);
        if (status !== 404 && status !== 410) problems.push(`${name} (revoked) answered ${status} through API process ${api + 1}`);
      }
      continue;
    }
    const answers = [];
    for (let api = 0; api < poller.apiUrls.length; api++) answers.push(await poller.get(feed, api, false));
    const [first, ...rest] = answers;
    if (answers.some((a) => a.status !== 200 || !a.body || !a.etag)) {
      problems.push(`${name}: answers ${answers.map((a) => a.status).join(', ')} (want 200 from every API process)`);
      continue;
    }
    if (rest.some((a) => a.etag !== first!.etag || !a.body!.equals(first!.body!))) {
      problems.push(`${name}: different bytes or ETag from the API processes`);
    } else {
      // A conditional GET with that ETag, through each process: 304 everywhere.
      const conditional = [];
      for (let api = 0; api < poller.apiUrls.length; api++) conditional.push((await poller.get(feed, api, true)).status);
      if (conditional.every((s) => s === 304)) sameBytesAndEtag++;
      else problems.push(`${name}: conditional GETs with the current ETag answered ${conditional.join(', ')} (want 304)`);
    }
    const ids = feedEventIds(first!.body!.toString('utf8'));
    const want = await desiredEventIds(db, feed);
    const seen = new Set(ids);
    desiredEvents += want.size;
    missing += [...want].filter((id) => !seen.has(id)).length;
    duplicates += ids.length - seen.size;
    outOfScope += [...seen].filter((id) => !want.has(id)).length;
  }
  if (missing) problems.push(`${missing} desired events missing from the feeds`);
  if (duplicates) problems.push(`${duplicates} duplicate UIDs in the feeds`);
  if (outOfScope) problems.push(`${outOfScope} events out of their feed's scope`);

  // One row per answered fetch (200 → `sent`, 304 → `not_modified`), and no row without an answer.
  const rows = !poller.feeds.length
    ? []
    : await db
        .selectFrom('transfer_log')
        .select((eb) => ['connection_id', 'outcome', eb.fn.countAll<string>().as('n')])
        .where(
          'connection_id',
          'in',
          poller.feeds.map((f) => f.connectionId),
        )
        .groupBy(['connection_id', 'outcome'])
        .execute();
  const count = (connectionId: string, outcome: string) => Number(rows.find((r) => r.connection_id === connectionId && r.outcome === outcome)?.n ?? 0);
  const other: Record<string, number> = {};
  for (const r of rows) if (r.outcome !== 'sent' && r.outcome !== 'not_modified') other[r.outcome] = (other[r.outcome] ?? 0) + Number(r.n);
  let sent = 0;
  let notModified = 0;
  const afterRevocation = new Map<number, number>();
  for (const feed of poller.feeds) {
    const tally = poller.tallies.get(feed.feedId)!;
    const s = count(feed.connectionId, 'sent');
    const nm = count(feed.connectionId, 'not_modified');
    sent += s;
    notModified += nm;
    const ok = tally.byStatus.get(200) ?? 0;
    const same = tally.byStatus.get(304) ?? 0;
    if (s !== ok) problems.push(`feed ${feed.index}: ${ok} answers 200 but ${s} \`sent\` rows`);
    if (nm !== same) problems.push(`feed ${feed.index}: ${same} answers 304 but ${nm} \`not_modified\` rows`);
    for (const [status, n] of tally.afterRevocation) afterRevocation.set(status, (afterRevocation.get(status) ?? 0) + n);
  }
  const servedAfterRevocation = (afterRevocation.get(200) ?? 0) + (afterRevocation.get(304) ?? 0);
  if (servedAfterRevocation) problems.push(`${servedAfterRevocation} answers 200/304 from a revoked feed after its revocation's 202`);
  const answers = Object.fromEntries([...poller.totals()].sort((a, b) => a[0] - b[0]).map(([s, n]) => [String(s), n]));
  const unanswered = answers['0'] ?? 0;
  if (unanswered) problems.push(`${unanswered} feed requests got no answer`);
  // PostgreSQL or Redis out of reach is answered 503 with Retry-After (the poller, like a calendar app,
  // tries again); any other 5xx is an error the API did not expect.
  const unexpected = Object.entries(answers).filter(([s]) => Number(s) >= 500 && s !== '503');
  if (unexpected.length) problems.push(`feed requests answered ${unexpected.map(([s, n]) => `${n} × ${s}`).join(', ')}`);
  return {
    feeds: poller.feeds.length,
    revokedFeeds: poller.feeds.filter((f) => f.revokedAt !== undefined).length,
    answers,
    sameBytesAndEtag,
    desiredEvents,
    missing,
    duplicates,
    outOfScope,
    rows: { sent, notModified, other },
    afterRevocation: Object.fromEntries([...afterRevocation].map(([s, n]) => [String(s), n])),
    servedAfterRevocation,
    problems,
  };
}
