import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Connector, type ConnectorPull, CursorGoneError, type PullPage } from '../../connectors/types.ts';
import { createImportWorker } from '../../queues/import-worker.ts';
import { vaultFor } from '../../src/connections/token-refresh.ts';
import { grantConsent } from '../../src/consent/service.ts';
import { loadCursor, type PullDeps, runImport } from '../../src/sync/pull.ts';
import { ProviderRequestError } from '../../src/transfers/clients/http.ts';
import { TransferBlockedError } from '../../src/transfers/types.ts';
import { seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The pull engine against a test-only connector and a small address-book server over real HTTP:
 * pages are applied idempotently, the cursor is stored only after its page is applied, and a cursor
 * the provider forgot restarts the import from scratch.
 */

const TOKEN = 'test-access-token';
const PAGE_SIZE = 2;

/** A minimal delta API: full listings in pages, then changes since a version; 410 for a forgotten cursor. */
class AddressBook {
  contacts = new Map<string, { name: string }>();
  /** Per version: the ids that changed (upserted or deleted). */
  changes: Array<{ version: number; id: string }> = [];
  version = 0;
  forgotten = false;
  requests: string[] = [];
  server = http.createServer((req, res) => this.handle(req, res));

  set(id: string, name: string): void {
    this.contacts.set(id, { name });
    this.changes.push({ version: ++this.version, id });
  }
  delete(id: string, options: { logged?: boolean } = {}): void {
    this.contacts.delete(id);
    if (options.logged !== false) this.changes.push({ version: ++this.version, id });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://book');
    this.requests.push(url.search);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      send(401, { error: 'unauthorized' });
      return;
    }
    const cursor = url.searchParams.get('cursor');
    const ids = [...this.contacts.keys()].sort();
    if (!cursor || cursor.startsWith('p:')) {
      const offset = cursor ? Number(cursor.split(':')[1]) : 0;
      const slice = ids.slice(offset, offset + PAGE_SIZE);
      const items = slice.map((id) => ({ id, name: this.contacts.get(id)!.name, deleted: false }));
      const more = offset + PAGE_SIZE < ids.length;
      send(200, { items, ...(more ? { nextPage: `p:${offset + PAGE_SIZE}` } : { delta: `d:${this.version}` }) });
      return;
    }
    if (this.forgotten) {
      send(410, { error: 'syncStateNotFound' });
      return;
    }
    const since = Number(cursor.slice(2));
    const changed = [...new Set(this.changes.filter((c) => c.version > since).map((c) => c.id))].sort();
    const items = changed.map((id) => ({ id, name: this.contacts.get(id)?.name ?? '', deleted: !this.contacts.has(id) }));
    send(200, { items, delta: `d:${this.version}` });
  }
}

let t: TestServices;
let book: AddressBook;
let baseUrl: string;
let connectionId: string;
/** Keys whose next application fails once (a crash between fetching and applying a page). */
const failApplyOnce = new Set<string>();

const testPull: ConnectorPull = {
  async fetchPage(ctx, cursor) {
    const client = ctx.httpClient({ name: 'test-book', baseUrl });
    const r = await ctx.gate.send(
      { connectionId: ctx.connection.id, purpose: 'contacts_import', actor: ctx.actor },
      {
        direction: 'inbound',
        operation: 'read',
        categories: ['contacts.import'],
        subjects: {},
        recipient: { account: ctx.connection.externalAccount, destination: 'contacts' },
        fields: {},
        itemKey: 'contacts-page',
      },
      async () => {
        try {
          const res = await client.request<{ items: Array<{ id: string; name: string; deleted: boolean }>; nextPage?: string; delta?: string }>({
            method: 'GET',
            path: 'contacts',
            query: { cursor: cursor ?? undefined },
          });
          return { value: res.body!, status: res.status };
        } catch (err) {
          if (err instanceof ProviderRequestError && err.status === 410) throw new CursorGoneError();
          throw err;
        }
      },
    );
    if (r.outcome === 'blocked') throw new TransferBlockedError(r.reason, r.transferId);
    if (r.outcome === 'failed') throw r.error;
    const body = r.value;
    const next: PullPage['next'] = body.nextPage ? { kind: 'page', cursor: body.nextPage } : { kind: 'delta', cursor: body.delta! };
    return { items: body.items.map((i) => ({ key: `contact:${i.id}`, deleted: i.deleted, fields: { name: i.name } })), next };
  },
  async applyPage(ctx, items) {
    for (const i of items) {
      if (failApplyOnce.delete(i.key)) throw new Error(`applying ${i.key} failed`);
    }
    await ctx.state.upsert(items.filter((i) => !i.deleted).map((i) => ({ key: i.key, remoteId: i.key.slice('contact:'.length), hash: String(i.fields.name) })));
    await ctx.state.remove(items.filter((i) => i.deleted).map((i) => i.key));
  },
  async sweep(ctx, seen) {
    const gone = (await ctx.state.list()).map((c) => c.key).filter((k) => !seen.has(k));
    await ctx.state.remove(gone);
    return gone.length;
  },
  classifyError: (err) => ({ kind: 'transient', message: (err as Error).message }),
};

/** A pulled platform that exists only in this test. */
const testConnector: Connector & { pull: ConnectorPull } = {
  manifest: {
    id: 'test_pull',
    displayName: 'Test address book',
    authKind: 'oauth2',
    categories: ['contacts.import'],
    defaultCategories: ['contacts.import'],
    triggers: [],
    capabilities: ['pull'],
    rateBudgets: { perAccount: { limit: 10_000, windowSeconds: 600, concurrency: 4 } },
    providerRevoke: false,
  },
  revoke: async () => [],
  pull: testPull,
  // The worker reads the stored token through the vault; it never expires here, so nothing is refreshed.
  oauth: {
    authorizationEndpoint: () => `${baseUrl}authorize`,
    clientId: () => 'test-client',
    scopes: () => ['contacts.read'],
    exchangeCode: () => Promise.reject(new Error('not used')),
    refresh: () => Promise.reject(new Error('not used')),
  },
};

const deps = (): PullDeps => ({
  services: t.services,
  connector: testConnector,
  accessToken: async () => TOKEN,
  actor: { kind: 'system', reason: 'test' },
});

const stateKeys = async () =>
  (await t.services.db.selectFrom('sync_state').select('item_key').where('connection_id', '=', connectionId).orderBy('item_key').execute()).map(
    (r) => r.item_key,
  );

beforeAll(async () => {
  t = await createTestServices();
  book = new AddressBook();
  await new Promise<void>((resolve) => book.server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(book.server.address() as AddressInfo).port}/`;
  for (const [id, name] of [
    ['a', 'Ann'],
    ['b', 'Bob'],
    ['c', 'Cem'],
    ['d', 'Dee'],
    ['e', 'Eve'],
  ] as const)
    book.set(id, name);
  const org = await seedOrg(t.services);
  const conn = await t.services.db
    .insertInto('connections')
    .values({
      organization_id: org.organizationId,
      user_id: org.member.id,
      platform: 'test_pull',
      status: 'active',
      external_account: 'book@example.test',
      settings: JSON.stringify({}),
      last_error: 'null',
      sync_progress: 'null',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  connectionId = conn.id;
  await vaultFor(t.services).save(connectionId, { accessToken: TOKEN, refreshToken: null, expiresAt: null, obtainedAt: Date.now(), scope: null });
  await grantConsent(t.services.db, {
    connectionId,
    organizationId: org.organizationId,
    grantedBy: org.member.id,
    categories: ['contacts.import'],
    caseScope: { kind: 'all' },
    method: 'api',
    attestations: { 'contacts.import': 'I have the legal right to import these contacts' },
  });
});
afterEach(() => failApplyOnce.clear());
afterAll(async () => {
  await new Promise((resolve) => book.server.close(resolve));
  await t.cleanup();
});

describe('pull engine', () => {
  it('pages through a first import, applies every item and stores the delta cursor at the end', async () => {
    const result = await runImport(deps(), { connectionId });
    expect(result).toEqual({ status: 'done', pages: 3, items: 5, restarted: false, swept: 0 });
    expect(await stateKeys()).toEqual(['contact:a', 'contact:b', 'contact:c', 'contact:d', 'contact:e']);
    expect(await loadCursor(t.services.db, connectionId)).toEqual({ cursor: 'd:5', kind: 'delta' });
    const rows = await t.services.db
      .selectFrom('transfer_log')
      .select(['direction', 'outcome'])
      .where('connection_id', '=', connectionId)
      .where('outcome', '!=', 'intent')
      .execute();
    expect(rows.length).toBe(3);
    expect(rows.every((r) => r.direction === 'inbound' && r.outcome === 'received')).toBe(true);
  });

  it('continues from the stored cursor and applies only the changes, deletions included', async () => {
    book.requests = [];
    book.set('f', 'Fay');
    book.delete('b');
    const result = await runImport(deps(), { connectionId });
    expect(result).toMatchObject({ status: 'done', pages: 1, items: 2 });
    expect(book.requests).toEqual(['?cursor=d%3A5']);
    expect(await stateKeys()).toEqual(['contact:a', 'contact:c', 'contact:d', 'contact:e', 'contact:f']);
    expect(await loadCursor(t.services.db, connectionId)).toEqual({ cursor: 'd:7', kind: 'delta' });
  });

  it('keeps the cursor of the last applied page when applying a page fails, and converges on the next run', async () => {
    await t.services.db.deleteFrom('connector_cursors').where('connection_id', '=', connectionId).execute();
    failApplyOnce.add('contact:d');
    await expect(runImport(deps(), { connectionId })).rejects.toThrow(/applying contact:d failed/);
    // The first page (a, c) was applied and its cursor stored; the failed page's was not.
    expect(await loadCursor(t.services.db, connectionId)).toEqual({ cursor: 'p:2', kind: 'page' });
    book.requests = [];
    const result = await runImport(deps(), { connectionId });
    expect(result).toMatchObject({ status: 'done', pages: 2 });
    expect(book.requests[0]).toBe('?cursor=p%3A2');
    expect(await stateKeys()).toEqual(['contact:a', 'contact:c', 'contact:d', 'contact:e', 'contact:f']);
  });

  it('restarts from scratch when the provider no longer knows the cursor, and sweeps what disappeared meanwhile', async () => {
    book.forgotten = true;
    book.delete('e', { logged: false });
    const result = await runImport(deps(), { connectionId });
    book.forgotten = false;
    expect(result).toEqual({ status: 'done', pages: 2, items: 4, restarted: true, swept: 1 });
    expect(await stateKeys()).toEqual(['contact:a', 'contact:c', 'contact:d', 'contact:f']);
    expect((await loadCursor(t.services.db, connectionId))?.kind).toBe('delta');
  });

  it('the import queue keeps one waiting job per connection, and its worker runs the import', async () => {
    await t.services.db.deleteFrom('connector_cursors').where('connection_id', '=', connectionId).execute();
    book.set('g', 'Gus');
    for (let i = 0; i < 20; i++) await t.services.queues.enqueueImport(connectionId, 'manual');
    const waiting = await t.services.queues.import.getWaiting();
    expect(waiting.map((j) => (j.data as { connectionId: string }).connectionId)).toEqual([connectionId]);
    const worker = createImportWorker(t.services, { connectors: [testConnector], concurrency: 2 });
    try {
      const deadline = Date.now() + 15_000;
      while ((await t.services.queues.import.getCompletedCount()) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await t.services.queues.import.getCompletedCount()).toBe(1);
      expect(await stateKeys()).toEqual(['contact:a', 'contact:c', 'contact:d', 'contact:f', 'contact:g']);
    } finally {
      await worker.close();
    }
  });

  it('requests the next page as soon as the connector says where it starts, never more than two pages beyond the one being applied', async () => {
    for (const id of ['g', 'h', 'i', 'j', 'k', 'l', 'm']) book.set(id, id.toUpperCase());
    await t.services.db.deleteFrom('connector_cursors').where('connection_id', '=', connectionId).execute();
    const events: string[] = [];
    const name = (cursor: string | null) => cursor ?? 'start';
    const aheadPull: ConnectorPull = {
      ...testPull,
      async fetchPage(ctx, cursor, hooks) {
        events.push(`request ${name(cursor)}`);
        const page = await testPull.fetchPage(ctx, cursor);
        hooks?.onNext?.(page.next);
        // What follows the answer inside the gate (its outcome row), slowed down.
        await new Promise((r) => setTimeout(r, 40));
        events.push(`returned ${name(cursor)}`);
        return page;
      },
      async applyPage(ctx, items) {
        events.push(`apply ${items[0]?.key}`);
        await new Promise((r) => setTimeout(r, 150));
        await testPull.applyPage(ctx, items);
        events.push(`applied ${items[0]?.key}`);
      },
    };
    const result = await runImport({ ...deps(), connector: { ...testConnector, pull: aheadPull } }, { connectionId });
    expect(result).toMatchObject({ status: 'done', restarted: false });
    const at = (e: string) => {
      expect(events).toContain(e);
      return events.indexOf(e);
    };
    // The second page's request left before the first page's fetch returned.
    expect(at('request p:2')).toBeLessThan(at('returned start'));
    // While the first page is applied, the two pages after it may be fetched, not a third.
    const firstApplied = events.find((e) => e.startsWith('applied '))!;
    expect(at('request p:4')).toBeLessThan(at(firstApplied));
    expect(at('request p:6')).toBeGreaterThan(at(firstApplied));
    // Every page applied once, in order, each after its request.
    const applied = events.filter((e) => e.startsWith('applied ')).map((e) => e.slice('applied '.length));
    expect(applied).toEqual([...applied].sort());
    expect(result.status === 'done' && result.pages).toBe(applied.length);
    expect((await loadCursor(t.services.db, connectionId))?.kind).toBe('delta');
  });
});
