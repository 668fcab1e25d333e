import { sql } from 'kysely';
import type { Connector, ConnectorPull, ProviderErrorClass } from '../../connectors/types.ts';
import { CursorGoneError } from '../../connectors/types.ts';
import { currentConsent } from '../consent/service.ts';
import type { Db, Tx } from '../db/database.ts';
import type { Services } from '../services.ts';
import { type TransferActor, TransferBlockedError } from '../transfers/types.ts';
import { createConnectorContext } from './context.ts';
import { PermanentRunError, RateLimitedRunError, RunInterruptedError, TransientRunError } from './errors.ts';
import { loadSyncConnection } from './reconcile.ts';
import { syncStateStore } from './state-store.ts';

/**
 * The generic import of one pulled connection (capability `pull`):
 *
 *   cursor = connector_cursors(connection)           (null = from scratch)
 *   repeat: page = connector.fetchPage(cursor)        (through the gate, direction inbound)
 *           in one transaction:
 *             connector.applyPage(page.items)         (idempotent by item key; ctx.db is the transaction)
 *             store page.next as the cursor           (commits with the page: a crash re-fetches, never skips)
 *           (or, when the connector has applyPageWithCursor, both in ONE statement: its own transaction)
 *   until the provider hands out a delta cursor (the import is complete).
 * Pages are requested ahead while earlier ones are applied (at most two beyond the page being
 * applied; see fetchAhead): the provider's time, the gate's logging and our applying overlap, and
 * a page's cursor is still stored only after that page is applied, in order.
 *
 * When the provider says the stored cursor is gone, the cursor is dropped and the import starts
 * from scratch once; a from-scratch import that ran to its end lets the connector sweep away what
 * is no longer at the provider. Knows no provider.
 */

export interface PullDeps {
  services: Services;
  connector: Connector & { pull: ConnectorPull };
  /** A fresh access token of the connection (see src/connections/token-refresh.ts). */
  accessToken(connectionId: string): Promise<string>;
  actor: TransferActor;
  /** Checked between pages: true when the worker is shutting down. */
  shouldStop?(): boolean;
}

export type PullResult = { status: 'done'; pages: number; items: number; restarted: boolean; swept: number } | { status: 'skipped'; reason: string };

/** The stored cursor of a connection, or null. */
export async function loadCursor(db: Db, connectionId: string): Promise<{ cursor: string; kind: 'page' | 'delta' } | null> {
  const row = await db.selectFrom('connector_cursors').select(['cursor', 'kind']).where('connection_id', '=', connectionId).executeTakeFirst();
  return row ?? null;
}

/**
 * Stores the cursor of a page, in the page's transaction, and lets that transaction commit without
 * waiting for the WAL flush (`synchronous_commit = off` for this transaction only, set in the same
 * statement: no extra round trip). A database crash can then lose the last page(s) applied — page
 * and cursor together, never one without the other (WAL order) — and the next run fetches them
 * again, exactly as after a worker crash; a later synchronous commit (an invitation, say) flushes
 * them first. Under load the flush was a third of a page's database time.
 */
async function storeCursor(db: Db | Tx, connectionId: string, next: { kind: 'page' | 'delta'; cursor: string }): Promise<void> {
  await cursorUpsert(connectionId, next).execute(db);
}

function cursorUpsert(connectionId: string, next: { kind: 'page' | 'delta'; cursor: string }) {
  return sql`
    INSERT INTO connector_cursors (connection_id, cursor, kind, pages_applied, updated_at)
    SELECT ${connectionId}, ${next.cursor}, ${next.kind}, 1, now()
    FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
    ON CONFLICT (connection_id) DO UPDATE SET
      cursor = excluded.cursor, kind = excluded.kind,
      pages_applied = connector_cursors.pages_applied + 1, updated_at = excluded.updated_at`;
}

/**
 * The same cursor write as a data-modifying CTE (`pull_cursor AS (…)`), for connectors that apply a
 * page and store its cursor in one statement ({@link ConnectorPull.applyPageWithCursor}): the
 * statement is its own transaction, so page and cursor commit together (asynchronously, as above)
 * in one round trip instead of four (BEGIN, apply, cursor, COMMIT).
 */
export function cursorCte(connectionId: string, next: { kind: 'page' | 'delta'; cursor: string }) {
  return sql`pull_cursor AS (${cursorUpsert(connectionId, next)} RETURNING 1)`;
}

async function dropCursor(db: Db, connectionId: string): Promise<void> {
  await db.deleteFrom('connector_cursors').where('connection_id', '=', connectionId).execute();
}

/** A provider failure as the run-level error the queue acts on. */
function runError(c: ProviderErrorClass): Error {
  if (c.kind === 'rate_limited') return new RateLimitedRunError(c.retryAfterMs ?? 0, 'provider');
  if (c.kind === 'auth_failed' && c.reauthRequired) return new PermanentRunError('reauth_required', c.message);
  if (c.kind === 'permanent') return new PermanentRunError(c.code ?? 'provider_refused', c.message);
  return new TransientRunError(c.message);
}

type Page = Awaited<ReturnType<ConnectorPull['fetchPage']>>;

/** How many pages may be fetched (or in flight) beyond the one being applied. */
const PAGES_AHEAD = 2;

/**
 * The pages of one import, requested ahead of the page being applied: the provider's time, the
 * gate's logging and our applying overlap. A page's request leaves as soon as the previous page's
 * answer said where it starts — when its fetch returned, or earlier when the connector says so
 * (`onNext`, before the gate has logged that answer) — but never more than {@link PAGES_AHEAD}
 * pages beyond the one being applied (memory stays a few pages, whatever the book). Pages are
 * handed out in order; their cursors are stored by the caller, in order, each with its page.
 */
function fetchAhead(pull: ConnectorPull, ctx: Parameters<ConnectorPull['fetchPage']>[0]) {
  interface Entry {
    cursor: string | null;
    fetching: Promise<Page> | null;
    /** Whether the page after this one is queued already (by onNext or when the fetch returned). */
    followed: boolean;
  }
  /** The pages after the one being applied, in order; the first PAGES_AHEAD of them may be under way. */
  const queue: Entry[] = [];
  let stopped = false;

  const start = (e: Entry): Promise<Page> => {
    e.fetching ??= pull.fetchPage(ctx, e.cursor, { onNext: (next) => follow(e, next) });
    e.fetching.catch(() => undefined);
    return e.fetching;
  };
  const pump = (): void => {
    if (stopped) return;
    for (const e of queue.slice(0, PAGES_AHEAD)) start(e);
  };
  const follow = (e: Entry, next: Page['next']): void => {
    if (e.followed || stopped) return;
    e.followed = true;
    if (next.kind !== 'page') return;
    queue.push({ cursor: next.cursor, fetching: null, followed: false });
    pump();
  };
  return {
    /** The page that starts at `cursor` (requested now unless under way already). */
    async take(cursor: string | null): Promise<Page> {
      let e = queue.shift();
      if (e && e.cursor !== cursor) {
        // Not the page asked for (cannot happen while the caller follows the pages' cursors): start over.
        queue.unshift(e);
        await this.drain();
        e = undefined;
      }
      e ??= { cursor, fetching: null, followed: false };
      const fetching = start(e);
      pump();
      const page = await fetching;
      follow(e, page.next);
      return page;
    },
    /** Stops requesting ahead and waits for the requests under way (their outcomes get logged). */
    async drain(): Promise<void> {
      stopped = true;
      await Promise.all(queue.map((e) => e.fetching?.catch(() => undefined)));
      queue.length = 0;
      stopped = false;
    },
  };
}

/** Runs one import of a connection. Throws the run-level errors of src/sync/errors.ts. */
export async function runImport(deps: PullDeps, params: { connectionId: string }): Promise<PullResult> {
  const { services, connector } = deps;
  const { db } = services;
  const pull = connector.pull;
  const [connection, consent, stored] = await Promise.all([
    loadSyncConnection(services, params.connectionId),
    currentConsent(db, params.connectionId),
    loadCursor(db, params.connectionId),
  ]);
  if (!connection) return { status: 'skipped', reason: 'connection_missing' };
  if (connection.status !== 'active') return { status: 'skipped', reason: `connection_${connection.status}` };
  if (!consent) return { status: 'skipped', reason: 'no_consent' };
  const ctx = createConnectorContext(services, {
    connection,
    consent,
    actor: deps.actor,
    accessToken: () => deps.accessToken(connection.id),
  });

  let cursor = stored?.cursor ?? null;
  let fromScratch = cursor === null;
  let restarted = false;
  const seen = new Set<string>();
  let pages = 0;
  let items = 0;
  const ahead = fetchAhead(pull, ctx);
  for (;;) {
    if (deps.shouldStop?.()) {
      await ahead.drain();
      throw new RunInterruptedError();
    }
    let page: Page;
    try {
      page = await ahead.take(cursor);
    } catch (err) {
      await ahead.drain();
      if (err instanceof CursorGoneError && cursor !== null && !restarted) {
        ctx.logger.info('stored cursor no longer known to the provider; importing from scratch');
        await dropCursor(db, connection.id);
        cursor = null;
        fromScratch = true;
        restarted = true;
        seen.clear();
        continue;
      }
      if (err instanceof TransferBlockedError) return { status: 'skipped', reason: err.reason };
      throw runError(pull.classifyError(err));
    }
    try {
      // The page and its cursor commit together: a crash before the commit fetches the same page
      // again (applied idempotently), a crash after it goes on from the next one.
      const next = page.next;
      const pageItems = page.items;
      if (pull.applyPageWithCursor) {
        await pull.applyPageWithCursor({ ...ctx, db, state: syncStateStore(db, connection.id) }, pageItems, cursorCte(connection.id, next));
      } else {
        await db.transaction().execute(async (tx) => {
          await pull.applyPage({ ...ctx, db: tx, state: syncStateStore(tx, connection.id) }, pageItems);
          await storeCursor(tx, connection.id, next);
        });
      }
    } catch (err) {
      // The pages fetched ahead are dropped (fetched again by the retry).
      await ahead.drain();
      throw err;
    }
    pages += 1;
    items += page.items.length;
    if (fromScratch) for (const item of page.items) if (!item.deleted) seen.add(item.key);
    if (page.next.kind === 'delta') break;
    cursor = page.next.cursor;
  }
  const swept = fromScratch && pull.sweep ? await pull.sweep(ctx, seen) : 0;
  return { status: 'done', pages, items, restarted, swept };
}
