import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { transferLogAppendConflicts, transferLogAppends } from '../observability/metrics.ts';
import { type ChainedEntry, chainForInsert, GENESIS_HASH, INLINE_SUBJECTS_MAX, subjectCount, subjectSetDigest, type TransferLogEntry } from './log-entry.ts';
import type { FeedCheck, TransferSubjects } from './types.ts';

/** How the writer commits. */
export interface TransferLogWriterOptions {
  /**
   * Commit statements made only of outcome rows (rows completing an intent that is already durable)
   * with `synchronous_commit = off` (default true): they are visible at once and durable within a few
   * hundred milliseconds or at the next synchronous commit, whichever comes first. Statements made
   * only of `not_modified` rows (answers that disclosed nothing) commit the same way. Intent and
   * refusal rows are always committed synchronously. See migration 0008 for why this is safe.
   */
  asyncOutcomeCommit?: boolean;
  /**
   * Longest wait (ms) of an outcome-only statement for announced outcomes (default
   * {@link TransferLogWriter.OUTCOME_HOLD_MS}).
   */
  outcomeHoldMs?: number;
}

/** An append whose {@link FeedCheck} failed: none of its rows was written. */
export class FeedCheckFailedError extends Error {
  readonly code = 'feed_check_failed';
  constructor() {
    super('transfer log: the feed changed or is no longer live; nothing was appended');
    this.name = 'FeedCheckFailedError';
  }
}

/**
 * Appends rows to the transfer log, chained per organization.
 *
 * Concurrency: each append is ONE call of `casebridge_transfer_log_append` (migration 0008, called
 * through `casebridge_transfer_log_append_or_head`, migration 0029), which compare-and-swaps the
 * organization's chain head (`transfer_log_heads`) from the expected (seq, hash) to the new one and
 * inserts the rows only when the swap succeeded. The UPDATE takes the head row's lock, so a
 * concurrent appender (another process) waits, re-checks the condition against the committed head,
 * finds it moved and inserts nothing; the same call answers with the head that won, and the appender
 * re-chains onto it and retries. The call is atomic on its own (no BEGIN/COMMIT round trips), its
 * plans are cached per connection, and `UNIQUE (organization_id, seq)` is the backstop. The head is
 * cached in the process, so the common case is one round trip per append.
 *
 * Subject sets: a row naming more than {@link INLINE_SUBJECTS_MAX} subject ids stores them once in
 * `transfer_subject_sets` (in the same call, the first time the set is seen) and names the set by its
 * digest; the process remembers which sets exist, so an iCal feed polled again and again writes small
 * rows. A set removed by retention while remembered makes the insert fail its foreign key: the writer
 * then forgets what it remembered and retries with the sets included.
 *
 * Group commit: appends for the same organization made in the same tick, or while a statement is in
 * flight, are merged into the next statement, so concurrent gate calls in a process share round trips
 * (each caller still resolves only once its own rows are committed). A statement made only of outcome
 * rows (rows completing an intent) waits, at most {@link TransferLogWriter.OUTCOME_HOLD_MS}, while calls
 * of the same organization announced with {@link TransferLogWriter.expect} are still out: their outcomes
 * travel in the same statement, and their callers then move on together, so the next intents share a
 * statement (and the next leases a Redis call) too. Intent rows never wait: a batch with one goes at once.
 *
 * Checked appends ({@link FeedCheck}: an iCal 304 decided on what the process knew of the feed) share
 * statements with the others: the statement checks every check of its batch before inserting anything;
 * when some fail it inserts nothing, those appends reject with {@link FeedCheckFailedError} and the rest
 * of the batch goes in the next statement.
 */
export class TransferLogWriter {
  private readonly orgs = new Map<string, OrgQueue>();
  /** Rows per statement; the batch travels as one jsonb parameter, so this only bounds statement size. */
  static readonly MAX_ROWS_PER_STATEMENT = 2000;
  /** Subject-set digests remembered per organization before the memory is reset. */
  static readonly MAX_KNOWN_SETS = 10_000;
  /**
   * Longest wait (ms) of an outcome-only statement for announced outcomes. Short against a provider
   * call: it only keeps together the outcomes of calls that left together.
   */
  static readonly OUTCOME_HOLD_MS = 2;
  private readonly asyncOutcomeCommit: boolean;
  private readonly outcomeHoldMs: number;

  constructor(
    private readonly db: Db,
    options: TransferLogWriterOptions = {},
  ) {
    this.asyncOutcomeCommit = options.asyncOutcomeCommit ?? true;
    this.outcomeHoldMs = options.outcomeHoldMs ?? TransferLogWriter.OUTCOME_HOLD_MS;
  }

  /**
   * Appends entries (any organizations) and resolves once they are committed, with their chain fields.
   * With `options.check` (entries of one organization), only while the check holds: else it rejects
   * with {@link FeedCheckFailedError} and nothing of it is written.
   */
  async append(entries: TransferLogEntry[], options: { check?: FeedCheck } = {}): Promise<ChainedEntry[]> {
    if (!entries.length) return [];
    const rows = entries.map(normaliseIds);
    const check = options.check ?? null;
    // Usually every row belongs to one organization (a gate call's rows): one queue, rows in order.
    const first = rows[0]!.organizationId;
    if (rows.every((e) => e.organizationId === first)) return this.enqueue(first, rows, check);
    if (check) throw new Error('transfer log: a checked append must be of one organization');
    const byOrg = new Map<string, TransferLogEntry[]>();
    for (const e of rows) {
      const list = byOrg.get(e.organizationId);
      if (list) list.push(e);
      else byOrg.set(e.organizationId, [e]);
    }
    const results = await Promise.all([...byOrg].map(([org, list]) => this.enqueue(org, list, null)));
    const byId = new Map(results.flat().map((c) => [c.id, c]));
    return rows.map((e) => byId.get(e.id)!);
  }

  /**
   * Announces (+1) an outcome row about to come for the organization — a provider call is out — or
   * withdraws the announcement (-1) when the call has settled. While announcements are open, a statement
   * made only of outcome rows waits for them (at most {@link TransferLogWriter.OUTCOME_HOLD_MS}).
   */
  expect(organizationId: string, delta: 1 | -1): void {
    const q = this.queue(organizationId.toLowerCase());
    q.expected += delta;
    // The last call out settled: its outcome is appended in this same turn (after the promise
    // callbacks); the held statement leaves at the end of the turn, with it.
    if (q.expected <= 0 && q.wake) setImmediate(q.wake);
  }

  /** Resolves once every append made before the call has been committed (or has failed). */
  async idle(): Promise<void> {
    await Promise.all([...this.orgs.values()].map((q) => q.drained));
  }

  /** Forgets cached chain heads (after retention or in tests that write the heads table directly). */
  resetCache(): void {
    for (const q of this.orgs.values()) {
      q.head = null;
      q.knownSets.clear();
    }
  }

  private queue(org: string): OrgQueue {
    let q = this.orgs.get(org);
    if (!q) {
      q = { pending: [], running: false, drained: null, head: null, knownSets: new Set(), expected: 0, wake: null };
      this.orgs.set(org, q);
    }
    return q;
  }

  private enqueue(org: string, entries: TransferLogEntry[], check: FeedCheck | null): Promise<ChainedEntry[]> {
    const queue = this.queue(org);
    const outcomesOnly = entries.every(isOutcome);
    return new Promise<ChainedEntry[]>((resolve, reject) => {
      queue.pending.push({ entries, outcomesOnly, check, resolve, reject });
      // A row that must not wait (an intent, a refusal) ends a hold at the end of this turn.
      if (!outcomesOnly && queue.wake) setImmediate(queue.wake);
      if (!queue.running) {
        // Start the statement at the end of this turn of the event loop, so that every append made
        // in the same tick (the intents of a chunk's first wave, concurrent `send` callers woken by the
        // same Redis reply) travels in it: one multi-row INSERT instead of one each.
        queue.running = true;
        queue.drained = new Promise<void>((done) => setImmediate(() => void this.drain(org, queue).then(done)));
      }
    });
  }

  private async drain(org: string, q: OrgQueue): Promise<void> {
    q.running = true;
    try {
      while (q.pending.length) {
        if (q.expected > 0 && q.pending.every((p) => p.outcomesOnly)) await hold(q, this.outcomeHoldMs);
        let batch: Pending[] = [];
        take(q, batch);
        while (batch.length) {
          let written: ChainedEntry[] | { failed: Set<Pending> };
          try {
            // The batch may grow while it is written (see `write`): resolve what it holds in the end.
            written = await this.write(org, q, batch);
          } catch (err) {
            q.head = null;
            for (const p of batch) p.reject(err);
            break;
          }
          if (!Array.isArray(written)) {
            // Nothing was inserted: the appends whose check failed are refused, the others go again.
            const { failed } = written;
            if (!failed.size) {
              for (const p of batch) p.reject(new Error('transfer log: a check failed but none was named'));
              break;
            }
            for (const p of failed) p.reject(new FeedCheckFailedError());
            batch = batch.filter((p) => !failed.has(p));
            continue;
          }
          let i = 0;
          for (const p of batch) {
            p.resolve(written.slice(i, i + p.entries.length));
            i += p.entries.length;
          }
          break;
        }
      }
    } finally {
      q.running = false;
    }
  }

  /**
   * Writes a batch in one statement. When the compare-and-swap is lost (another process moved the
   * head), the appends queued meanwhile join the batch before it is chained again: the statement that
   * has to be sent anyway carries them, instead of each costing a statement (and, with several processes
   * appending for the organization, a further chance to lose) of its own. When a check of the batch
   * fails, nothing is inserted and the appends whose check failed are answered.
   */
  private async write(org: string, q: OrgQueue, batch: Pending[]): Promise<ChainedEntry[] | { failed: Set<Pending> }> {
    let asyncCommit = true;
    const sets = new Map<string, TransferSubjects>();
    let rows: TransferLogEntry[] = [];
    let taken = 0;
    /** Prepares the batch's entries not prepared yet (all of them at first, those that joined after a lost swap). */
    const prepare = () => {
      const added = batch.slice(taken).flatMap((p) => p.entries);
      taken = batch.length;
      // Outcome rows complete an intent that is already durable: they may skip the WAL flush wait.
      // So may `not_modified` rows (an iCal 304: nothing was disclosed, and nothing waits on the row to
      // make a call safe) — the hottest single-row path, whose rows of concurrent requests share a statement.
      asyncCommit &&= this.asyncOutcomeCommit && added.every((e) => (e.intentId !== null && e.outcome !== 'intent') || e.outcome === 'not_modified');
      rows = rows.concat(
        added.map((e) => {
          if (e.subjectsDigest || subjectCount(e.subjects) <= INLINE_SUBJECTS_MAX) return e;
          const digest = subjectSetDigest(e.subjects);
          sets.set(digest, e.subjects);
          return { ...e, subjects: {}, subjectsDigest: digest };
        }),
      );
    };
    prepare();
    let fkRetried = false;
    for (let attempt = 0; ; attempt++) {
      q.head ??= await this.loadHead(org);
      const { chained, records } = chainForInsert(q.head, rows);
      const last = chained[chained.length - 1]!;
      const newSets = [...sets].filter(([digest]) => !q.knownSets.has(digest));
      const checked = batch.filter((p) => p.check);
      let answer: { inserted: number; head: { seq: number; hash: string } | null; failedChecks: number[] | null };
      try {
        answer = await this.appendCall({ org, expected: q.head, last, records, newSets, asyncCommit, checks: checked.map((p) => p.check!) });
      } catch (err) {
        // A remembered set was removed (retention): forget them all and send the sets along.
        if (!fkRetried && isForeignKeyViolation(err) && sets.size) {
          fkRetried = true;
          q.knownSets.clear();
          continue;
        }
        throw err;
      }
      // A check failed: nothing was inserted and the head did not move.
      if (answer.failedChecks) return { failed: new Set(answer.failedChecks.map((i) => checked[i]).filter((p): p is Pending => !!p)) };
      if (answer.inserted === chained.length) {
        q.head = { seq: last.seq, hash: last.hash };
        if (q.knownSets.size + sets.size > TransferLogWriter.MAX_KNOWN_SETS) q.knownSets.clear();
        for (const digest of sets.keys()) q.knownSets.add(digest);
        return chained;
      }
      // Another process moved the head: chain again onto the head the call answered with (re-read when
      // it answered none).
      transferLogAppendConflicts.inc();
      q.head = answer.head;
      if (attempt >= 200) throw new Error('transfer log: could not append after 200 attempts (chain head contention)');
      if (attempt >= 3) await sleep(Math.random() * Math.min(50, 2 ** attempt));
      if (take(q, batch, rows.length)) prepare();
    }
  }

  private async loadHead(org: string): Promise<{ seq: number; hash: string }> {
    // One statement in the common case — the head exists, and this is a re-read after another process
    // moved it (several worker processes appending for one organization) — and the insert only for an
    // organization's very first row.
    const read = () => this.db.selectFrom('transfer_log_heads').select(['seq', 'hash']).where('organization_id', '=', org).executeTakeFirst();
    let row = await read();
    if (!row) {
      await sql`INSERT INTO transfer_log_heads (organization_id, seq, hash) VALUES (${org}, 0, ${GENESIS_HASH})
        ON CONFLICT (organization_id) DO NOTHING`.execute(this.db);
      row = await read();
      if (!row) throw new Error('transfer log: the chain head could not be created');
    }
    return { seq: Number(row.seq), hash: row.hash };
  }

  /**
   * One compare-and-swap + insert; returns the rows inserted (0 when the head had moved) and, when
   * nothing was inserted, the head committed by whoever moved it.
   */
  private async appendCall(p: {
    org: string;
    expected: { seq: number; hash: string };
    last: ChainedEntry;
    /** The rows as JSON records (canonical row text plus prevHash and hash, see `chainForInsert`). */
    records: string[];
    newSets: Array<[string, TransferSubjects]>;
    asyncCommit: boolean;
    /** The checks of the rows (migration 0030); none: the unchecked call. */
    checks: FeedCheck[];
  }): Promise<{ inserted: number; head: { seq: number; hash: string } | null; failedChecks: number[] | null }> {
    const rows = `[${p.records.join(',')}]`;
    transferLogAppends.inc();
    const sets = p.newSets.length ? JSON.stringify(p.newSets.map(([digest, subjects]) => ({ digest, subjects }))) : null;
    const result = p.checks.length
      ? await sql<{ inserted: number; head_seq: string | number | null; head_hash: string | null; failed_checks: number[] | null }>`
      SELECT inserted, head_seq, head_hash, failed_checks FROM casebridge_transfer_log_append_checked(${p.org}, ${p.expected.seq}, ${p.expected.hash},
        ${p.last.seq}, ${p.last.hash}, ${rows}::jsonb, ${sets}::jsonb, ${p.asyncCommit}, ${JSON.stringify(p.checks)}::jsonb)`.execute(this.db)
      : await sql<{ inserted: number; head_seq: string | number | null; head_hash: string | null; failed_checks?: undefined }>`
      SELECT inserted, head_seq, head_hash FROM casebridge_transfer_log_append_or_head(${p.org}, ${p.expected.seq}, ${p.expected.hash},
        ${p.last.seq}, ${p.last.hash}, ${rows}::jsonb, ${sets}::jsonb, ${p.asyncCommit})`.execute(this.db);
    const r = result.rows[0];
    if (!r) return { inserted: 0, head: null, failedChecks: null };
    // (An int[]: node-postgres and PGlite both hand it over as an array.)
    const failedChecks = r.failed_checks?.length ? r.failed_checks.map(Number) : null;
    const inserted = Number(r.inserted);
    return { inserted, head: !inserted && r.head_seq !== null && r.head_hash !== null ? { seq: Number(r.head_seq), hash: r.head_hash } : null, failedChecks };
  }
}

/**
 * Moves queued appends into a batch, in order, while they fit in one statement (the first always
 * does); `rows` the batch holds already. Returns whether any moved.
 */
function take(q: OrgQueue, batch: Pending[], rows = 0): boolean {
  let moved = false;
  while (q.pending.length && (rows === 0 || rows + q.pending[0]!.entries.length <= TransferLogWriter.MAX_ROWS_PER_STATEMENT)) {
    const p = q.pending.shift()!;
    batch.push(p);
    rows += p.entries.length;
    moved = true;
  }
  return moved;
}

/** A row completing an intent (its outcome), as opposed to an intent or a row standing alone. */
function isOutcome(e: TransferLogEntry): boolean {
  return e.intentId !== null && e.outcome !== 'intent';
}

/** Waits until the announced outcomes are in (or a non-outcome append arrives), at most `ms`. */
function hold(q: OrgQueue, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      if (q.wake === done) q.wake = null;
      resolve();
    };
    const timer = setTimeout(done, ms);
    q.wake = done;
  });
}

function isForeignKeyViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23503';
}

const UUID_FIELDS = ['id', 'organizationId', 'userId', 'connectionId', 'consentId', 'intentId'] as const;

/** uuid columns come back lower-case; hash what will be read back. The entry itself when it already is. */
function normaliseIds(e: TransferLogEntry): TransferLogEntry {
  let out: TransferLogEntry | null = null;
  for (const f of UUID_FIELDS) {
    const v = e[f];
    if (typeof v !== 'string') continue;
    const lower = v.toLowerCase();
    if (lower === v) continue;
    out ??= { ...e };
    (out as unknown as Record<string, unknown>)[f] = lower;
  }
  return out ?? e;
}

interface Pending {
  entries: TransferLogEntry[];
  /** The append's condition, if any. */
  check: FeedCheck | null;
  /** Only outcome rows: may wait for announced outcomes (see `expect`). */
  outcomesOnly: boolean;
  resolve(value: ChainedEntry[]): void;
  reject(err: unknown): void;
}

interface OrgQueue {
  pending: Pending[];
  running: boolean;
  /** Settles when the current drain (every append queued so far) is over; null before the first. */
  drained: Promise<void> | null;
  head: { seq: number; hash: string } | null;
  /** Digests of subject sets known to be stored for this organization. */
  knownSets: Set<string>;
  /** Outcome rows announced (calls out) and not yet settled. */
  expected: number;
  /** Ends the current hold (null when not holding). */
  wake: (() => void) | null;
}
