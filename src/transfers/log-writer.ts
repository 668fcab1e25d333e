import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import {
  type ChainedEntry,
  chainEntries,
  entryToRecord,
  GENESIS_HASH,
  RECORDSET_COLUMNS,
  type TransferLogEntry,
} from './log-entry.ts';

/**
 * Appends rows to the transfer log, chained per organization.
 *
 * Concurrency: each append is ONE statement that compare-and-swaps the organization's chain head
 * (`transfer_log_heads`) and inserts the rows only when the swap succeeded:
 *
 *   WITH h AS (UPDATE heads SET seq = new, hash = new WHERE org = $1 AND seq = expected AND hash = expected
 *              RETURNING 1)
 *   INSERT INTO transfer_log SELECT … FROM jsonb_to_recordset($rows) WHERE EXISTS (SELECT 1 FROM h)
 *
 * The UPDATE takes the head row's lock, so a concurrent appender (another process) waits, re-checks
 * the condition against the committed head, finds it moved and inserts nothing; it then re-reads the
 * head, re-chains and retries. The statement is atomic on its own (no BEGIN/COMMIT round trips), and
 * `UNIQUE (organization_id, seq)` is the backstop. The head is cached in the process, so the common
 * case is one round trip per append.
 *
 * Group commit: appends for the same organization that arrive while one is in flight are merged into
 * the next statement, so concurrent gate calls in a process share round trips.
 */
export class TransferLogWriter {
  private readonly orgs = new Map<string, OrgQueue>();
  /** Rows per statement; the batch travels as one jsonb parameter, so this only bounds statement size. */
  static readonly MAX_ROWS_PER_STATEMENT = 2000;

  constructor(private readonly db: Db) {}

  /** Appends entries (any organizations) and resolves once they are committed, with their chain fields. */
  async append(entries: TransferLogEntry[]): Promise<ChainedEntry[]> {
    if (!entries.length) return [];
    const byOrg = new Map<string, TransferLogEntry[]>();
    for (const e of entries) {
      const org = e.organizationId.toLowerCase();
      const list = byOrg.get(org) ?? [];
      list.push({ ...e, organizationId: org });
      byOrg.set(org, list);
    }
    const results = await Promise.all([...byOrg].map(([org, list]) => this.enqueue(org, list)));
    const byId = new Map(results.flat().map((c) => [c.id, c]));
    return entries.map((e) => byId.get(e.id.toLowerCase())!);
  }

  /** Forgets cached chain heads (after retention or in tests that write the heads table directly). */
  resetCache(): void {
    for (const q of this.orgs.values()) q.head = null;
  }

  private enqueue(org: string, entries: TransferLogEntry[]): Promise<ChainedEntry[]> {
    let q = this.orgs.get(org);
    if (!q) {
      q = { pending: [], running: false, head: null };
      this.orgs.set(org, q);
    }
    const queue = q;
    return new Promise<ChainedEntry[]>((resolve, reject) => {
      queue.pending.push({ entries: entries.map(normaliseIds), resolve, reject });
      if (!queue.running) void this.drain(org, queue);
    });
  }

  private async drain(org: string, q: OrgQueue): Promise<void> {
    q.running = true;
    try {
      while (q.pending.length) {
        const batch: Pending[] = [];
        let rows = 0;
        while (q.pending.length && (rows === 0 || rows + q.pending[0]!.entries.length <= TransferLogWriter.MAX_ROWS_PER_STATEMENT)) {
          const p = q.pending.shift()!;
          batch.push(p);
          rows += p.entries.length;
        }
        try {
          const chained = await this.write(org, q, batch.flatMap((p) => p.entries));
          let i = 0;
          for (const p of batch) {
            p.resolve(chained.slice(i, i + p.entries.length));
            i += p.entries.length;
          }
        } catch (err) {
          q.head = null;
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      q.running = false;
    }
  }

  private async write(org: string, q: OrgQueue, entries: TransferLogEntry[]): Promise<ChainedEntry[]> {
    for (let attempt = 0; ; attempt++) {
      q.head ??= await this.loadHead(org);
      const chained = chainEntries(q.head, entries);
      const last = chained[chained.length - 1]!;
      const inserted = await this.casInsert(org, q.head, last, chained);
      if (inserted === chained.length) {
        q.head = { seq: last.seq, hash: last.hash };
        return chained;
      }
      // Another process moved the head: re-read it and chain again.
      q.head = null;
      if (attempt >= 200) throw new Error('transfer log: could not append after 200 attempts (chain head contention)');
      if (attempt >= 3) await sleep(Math.random() * Math.min(50, 2 ** attempt));
    }
  }

  private async loadHead(org: string): Promise<{ seq: number; hash: string }> {
    await sql`INSERT INTO transfer_log_heads (organization_id, seq, hash) VALUES (${org}, 0, ${GENESIS_HASH})
      ON CONFLICT (organization_id) DO NOTHING`.execute(this.db);
    const row = await this.db
      .selectFrom('transfer_log_heads')
      .select(['seq', 'hash'])
      .where('organization_id', '=', org)
      .executeTakeFirstOrThrow();
    return { seq: Number(row.seq), hash: row.hash };
  }

  private async casInsert(
    org: string,
    expected: { seq: number; hash: string },
    last: ChainedEntry,
    chained: ChainedEntry[],
  ): Promise<number> {
    const payload = JSON.stringify(chained.map(entryToRecord));
    const result = await sql<{ id: string }>`
      WITH h AS (
        UPDATE transfer_log_heads SET seq = ${last.seq}, hash = ${last.hash}, updated_at = now()
        WHERE organization_id = ${org} AND seq = ${expected.seq} AND hash = ${expected.hash}
        RETURNING 1
      )
      INSERT INTO transfer_log (${sql.raw(COLUMN_LIST)})
      SELECT ${sql.raw(COLUMN_LIST)} FROM jsonb_to_recordset(${payload}::jsonb) AS x(${sql.raw(COLUMN_DEFS)})
      WHERE EXISTS (SELECT 1 FROM h)
      RETURNING id`.execute(this.db);
    return result.rows.length;
  }
}

const COLUMN_LIST = RECORDSET_COLUMNS.map(([name]) => name).join(', ');
const COLUMN_DEFS = RECORDSET_COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ');

const UUID_FIELDS = ['id', 'organizationId', 'userId', 'connectionId', 'consentId', 'intentId'] as const;

/** uuid columns come back lower-case; hash what will be read back. */
function normaliseIds(e: TransferLogEntry): TransferLogEntry {
  const out = { ...e };
  for (const f of UUID_FIELDS) {
    const v = out[f];
    if (typeof v === 'string') (out as Record<string, unknown>)[f] = v.toLowerCase();
  }
  return out;
}

interface Pending {
  entries: TransferLogEntry[];
  resolve(value: ChainedEntry[]): void;
  reject(err: unknown): void;
}

interface OrgQueue {
  pending: Pending[];
  running: boolean;
  head: { seq: number; hash: string } | null;
}
