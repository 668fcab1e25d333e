import { allowedFields } from '../../src/consent/categories.ts';
import { TransferBlockedError } from '../../src/transfers/types.ts';
import { type ConnectorContext, CursorGoneError, type PullFetchHooks, type PullPage } from '../types.ts';
import { type GraphApi, type GraphPage, GraphRequestError, openGraph } from './client.ts';

/**
 * One page of the import (`ConnectorPull.fetchPage`): contacts delta per contact folder. The
 * engine keeps one cursor per connection, so ours is a small JSON document: the folders and, per
 * folder, the link to follow next (null = start its first round) and which folder is at hand.
 *
 *   null cursor      -> list the folders (one request), cursor = every folder, none started
 *   folder i, link   -> follow it; @odata.nextLink: same folder again; @odata.deltaLink: keep it,
 *                       move to folder i+1; after the last folder the cursor is a `delta` cursor
 *   410 / syncStateNotFound -> CursorGoneError (the engine restarts from scratch and sweeps)
 *
 * Every request goes through the gate (direction inbound, logged `received` with the size of the
 * page, never the contact data). Minimisation happens at the source: `$select` lists only the Graph
 * properties behind the consented category's fields; notes, birthdays, photos and home addresses
 * are never asked for.
 */

interface FolderCursor {
  id: string;
  /** The nextLink or deltaLink to follow, or null to start a round with $select. */
  link: string | null;
}

interface DeltaCursor {
  v: 1;
  folders: FolderCursor[];
  /** The folder at hand. */
  at: number;
}

/** The registry's field names of `contacts.import` → the Graph properties that carry them. */
const GRAPH_PROPERTIES: Record<string, readonly string[]> = {
  name: ['displayName', 'givenName', 'surname'],
  emails: ['emailAddresses'],
  company: ['companyName'],
  jobTitle: ['jobTitle'],
  phones: ['businessPhones', 'mobilePhone'],
};

/** `$select` for the consented categories: exactly the properties of the released fields. */
export function contactSelect(categories: Parameters<typeof allowedFields>[0]): string[] {
  const fields = allowedFields(categories.filter((c) => c === 'contacts.import'));
  return [...fields].flatMap((f) => GRAPH_PROPERTIES[f] ?? []);
}

/**
 * Page size asked of Graph on every request (its default for contacts is 10; it caps contacts pages
 * at 200 — a larger ask is answered with 200). Fewer, larger pages: each page costs one transaction
 * (apply + cursor) and two log rows, whatever its size.
 */
export const PAGE_SIZE = 200;

interface GraphContactItem {
  id: string;
  '@removed'?: { reason: string };
  displayName?: string | null;
  givenName?: string | null;
  surname?: string | null;
  emailAddresses?: Array<{ name?: string | null; address?: string | null }> | null;
  companyName?: string | null;
  jobTitle?: string | null;
  businessPhones?: string[] | null;
  mobilePhone?: string | null;
}

/** The minimised contact as the apply step stores it. */
export interface ImportedContactFields {
  name: string;
  emails: string[];
  company: string | null;
  jobTitle: string | null;
  phones: string[];
}

export function toFields(c: GraphContactItem): ImportedContactFields {
  const emails = [...new Set((c.emailAddresses ?? []).map((e) => e.address?.trim().toLowerCase()).filter((a): a is string => !!a))];
  const name = c.displayName?.trim() || [c.givenName, c.surname].filter(Boolean).join(' ').trim() || emails[0] || '(no name)';
  const phones = [...new Set([...(c.businessPhones ?? []), ...(c.mobilePhone ? [c.mobilePhone] : [])].map((p) => p.trim()).filter(Boolean))];
  return { name, emails, company: c.companyName?.trim() || null, jobTitle: c.jobTitle?.trim() || null, phones };
}

function parseCursor(cursor: string | null): DeltaCursor | null {
  if (!cursor) return null;
  try {
    const c = JSON.parse(cursor) as DeltaCursor;
    return c?.v === 1 && Array.isArray(c.folders) && c.folders.length > 0 ? c : null;
  } catch {
    return null;
  }
}

/**
 * One gated Graph read (a 410 / syncStateNotFound becomes {@link CursorGoneError}). `answered` sees
 * the answer as soon as it is in, before the gate logs the outcome (it must not throw).
 */
async function gatedRead<T>(
  ctx: ConnectorContext,
  graph: GraphApi,
  what: { destination: string; itemKey: string },
  read: (g: GraphApi) => Promise<T>,
  answered?: (value: T) => void,
): Promise<T> {
  const r = await ctx.gate.send(
    { connectionId: ctx.connection.id, purpose: 'contacts_import', actor: ctx.actor },
    {
      direction: 'inbound',
      operation: 'read',
      categories: ['contacts.import'],
      subjects: {},
      recipient: { account: ctx.connection.externalAccount, destination: what.destination },
      fields: {},
      itemKey: what.itemKey,
    },
    async () => {
      try {
        const value = await read(graph);
        answered?.(value);
        // The log keeps the size of what came in, never the contacts themselves.
        return { value, status: 200, bytes: Buffer.byteLength(JSON.stringify(value)) };
      } catch (err) {
        if (err instanceof GraphRequestError && (err.status === 410 || err.graphCode === 'syncStateNotFound')) throw new CursorGoneError();
        throw err;
      }
    },
  );
  if (r.outcome === 'blocked') throw new TransferBlockedError(r.reason, r.transferId);
  if (r.outcome === 'failed') throw r.error;
  return r.value;
}

/** The cursor after the folder listing: every folder, none started (no folder: nothing to import). */
function afterFolders(folders: GraphPage<{ id: string }>): PullPage['next'] {
  const next: DeltaCursor = { v: 1, folders: folders.value.map((f) => ({ id: f.id, link: null })), at: 0 };
  if (!next.folders.length) return { kind: 'delta', cursor: '' };
  return { kind: 'page', cursor: JSON.stringify(next) };
}

/** The cursor after a delta page of the folder at hand, or null when Graph gave neither link. */
function afterDeltaPage(state: DeltaCursor, page: GraphPage<GraphContactItem>): PullPage['next'] | null {
  const folders = state.folders.map((f, i) => (i === state.at ? { ...f, link: page['@odata.nextLink'] ?? page['@odata.deltaLink'] ?? null } : f));
  if (page['@odata.nextLink']) return { kind: 'page', cursor: JSON.stringify({ v: 1, folders, at: state.at }) };
  if (!page['@odata.deltaLink']) return null;
  const at = state.at + 1;
  if (at < folders.length) return { kind: 'page', cursor: JSON.stringify({ v: 1, folders, at }) };
  return { kind: 'delta', cursor: JSON.stringify({ v: 1, folders, at: 0 }) };
}

/**
 * One page of the import. Tells the engine where the next page starts (`hooks.onNext`) as soon as
 * Graph's answer is in, so that the next request can leave while this one's outcome is logged.
 */
export async function fetchContactsPage(ctx: ConnectorContext, cursor: string | null, hooks: PullFetchHooks = {}): Promise<PullPage> {
  const graph = openGraph({ config: ctx.config, accessToken: ctx.accessToken });
  const state = parseCursor(cursor);
  if (!state) {
    let next: PullPage['next'] | null = null;
    const folders = await gatedRead(
      ctx,
      graph,
      { destination: 'contactFolders', itemKey: 'contact-folders' },
      (g) => g.get<GraphPage<{ id: string }>>('me/contactFolders', { query: { $select: 'id', $top: '250' } }),
      (value) => {
        next = afterFolders(value);
        hooks.onNext?.(next);
      },
    );
    return { items: [], next: next ?? afterFolders(folders) };
  }
  const folder = state.folders[state.at]!;
  const select = contactSelect(ctx.consent.categories);
  let next: PullPage['next'] | null = null;
  const page = await gatedRead(
    ctx,
    graph,
    { destination: `contactFolders/${folder.id}`, itemKey: `contacts-delta:${folder.id}` },
    (g) =>
      g.get<GraphPage<GraphContactItem>>(folder.link ?? `me/contactFolders/${encodeURIComponent(folder.id)}/contacts/delta`, {
        // $select only on the first request of a round: Graph carries it in the links it returns.
        ...(folder.link ? {} : { query: { $select: select.join(',') } }),
        headers: { Prefer: `odata.maxpagesize=${PAGE_SIZE}` },
      }),
    (value) => {
      next = afterDeltaPage(state, value);
      if (next) hooks.onNext?.(next);
    },
  );
  next ??= afterDeltaPage(state, page);
  if (!next) throw new GraphRequestError(200, null, 'Microsoft Graph answered a delta page with neither a nextLink nor a deltaLink');
  const items: PullPage['items'] = page.value.map((c) =>
    c['@removed'] ? { key: `contact:${c.id}`, deleted: true, fields: {} } : { key: `contact:${c.id}`, deleted: false, fields: { ...toFields(c) } },
  );
  return { items, next };
}
