import { randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { applyFaults, tokenFault } from '../faults.ts';
import type { ProviderEmulator, SandboxContext } from '../server.ts';
import type { SandboxState } from '../state.ts';
import { type DeltaState, deleteContact, folderChanges, type GraphContact, mailbox, microsoftStore, putContact } from './store.ts';

/**
 * Microsoft Graph v1.0 under `/microsoft/graph/v1.0`: `/me`, `/me/contactFolders`, contacts delta per
 * folder (`@odata.nextLink` / `@odata.deltaLink`, `Prefer: odata.maxpagesize`, `@removed`, `$select`,
 * 410 `syncStateNotFound` for forgotten tokens), `$batch` (≤ 20, at most 4 at a time) and
 * `POST /me/sendMail` (202). Errors in Graph's shape with `innerError`; at most 4 requests in flight
 * per mailbox (429 `MailboxConcurrency` with Retry-After). The ledger records every accepted request;
 * delta requests record the `$select` they were asked with. Test knobs under `/_sandbox/microsoft`.
 */

const GRAPH = '/microsoft/graph/v1.0';
const DEFAULT_PAGE_SIZE = 10;
/**
 * Graph caps contacts (delta) pages at 200 whatever `odata.maxpagesize` asks (Microsoft Q&A, 2025:
 * "200 for objects, such as users and contacts"; the contact-delta page states no figure), and says
 * which size it applied in `Preference-Applied`.
 */
const MAX_PAGE_SIZE = 200;
const MAILBOX_CONCURRENCY = 4;

/** Graph's error body. */
export function graphError(c: Context, status: number, code: string, message: string): Response {
  const requestId = crypto.randomUUID();
  c.header('request-id', requestId);
  return c.json(
    {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().slice(0, 19),
          'request-id': requestId,
          'client-request-id': c.req.header('client-request-id') ?? requestId,
        },
      },
    },
    status as 400,
  );
}

function bearerAccount(c: Context, state: SandboxState): string | Response {
  const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
  const record = token ? state.tokens.get(token) : undefined;
  if (token && record?.provider === 'microsoft') {
    const req = { provider: 'microsoft' as const, account: record.account, method: c.req.method, path: c.req.path };
    if (tokenFault(state, req, 'expire_tokens')) record.expiresAt = Date.now() - 1;
  }
  const checked = state.checkAccessToken(token, 'microsoft');
  if (checked === 'missing') return graphError(c, 401, 'InvalidAuthenticationToken', 'Access token is empty.');
  if (checked === 'expired') return graphError(c, 401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
  if (typeof checked === 'string') return graphError(c, 401, 'InvalidAuthenticationToken', 'IDX14100: JWT is not well formed.');
  return checked.account;
}

const SELECTABLE = new Set<keyof GraphContact>([
  'id',
  'parentFolderId',
  'displayName',
  'givenName',
  'surname',
  'companyName',
  'jobTitle',
  'emailAddresses',
  'businessPhones',
  'homePhones',
  'mobilePhone',
  'personalNotes',
  'birthday',
  'homeAddress',
  'changeKey',
  'lastModifiedDateTime',
]);

function project(contact: GraphContact, select: string[] | null): Record<string, unknown> {
  const { version: _v, ...all } = contact as GraphContact & { version?: number };
  if (!select) return { '@odata.etag': `W/"${contact.changeKey}"`, ...all };
  const out: Record<string, unknown> = { '@odata.etag': `W/"${contact.changeKey}"`, id: contact.id };
  for (const f of select) if (SELECTABLE.has(f as keyof GraphContact)) out[f] = contact[f as keyof GraphContact];
  return out;
}

/** The page size of THIS request: Graph reads the Prefer header on every request, nextLinks included. */
function pageSize(c: Context): number {
  const m = /odata\.maxpagesize=(\d+)/i.exec(c.req.header('prefer') ?? '');
  return m ? Math.min(MAX_PAGE_SIZE, Math.max(1, Number(m[1]))) : DEFAULT_PAGE_SIZE;
}

export const microsoftGraphEmulator: ProviderEmulator = (app: Hono, ctx: SandboxContext) => {
  const { state } = ctx;
  const store = () => microsoftStore(state);
  const base = () => `${ctx.origin()}${GRAPH}`;
  const record = (c: Context, account: string | null, status: number, extra: { write?: boolean; object?: unknown } = {}) =>
    state.record({ provider: 'microsoft', account, method: c.req.method, path: c.req.path, status, write: extra.write ?? false, object: extra.object });

  /** Bearer check, mailbox concurrency and injected faults around one Graph handler. */
  const graph =
    (handler: (c: Context, account: string) => Promise<Response> | Response) =>
    async (c: Context): Promise<Response> => {
      const account = bearerAccount(c, state);
      if (account instanceof Response) return account;
      const inFlight = store().inFlight;
      const now = inFlight.get(account) ?? 0;
      if (now >= MAILBOX_CONCURRENCY) {
        c.header('Retry-After', '1');
        return graphError(c, 429, 'MailboxConcurrency', 'Application is over its MailboxConcurrency limit.');
      }
      inFlight.set(account, now + 1);
      try {
        const fault = await applyFaults(c, state, { provider: 'microsoft', account });
        if (fault) return fault;
        return await handler(c, account);
      } finally {
        inFlight.set(account, (inFlight.get(account) ?? 1) - 1);
      }
    };

  app.get(
    `${GRAPH}/me`,
    graph((c, account) => {
      const a = state.accounts.get(account);
      record(c, account, 200);
      return c.json({ id: a?.sub ?? account, displayName: a?.name ?? account, mail: account, userPrincipalName: account });
    }),
  );

  app.get(
    `${GRAPH}/me/contactFolders`,
    graph((c, account) => {
      const box = mailbox(store(), account);
      record(c, account, 200);
      return c.json({ '@odata.context': `${base()}/$metadata#users('${account}')/contactFolders`, value: box.folders });
    }),
  );

  app.get(
    `${GRAPH}/me/contactFolders/:folderId/contacts/delta`,
    graph((c, account) => {
      const box = mailbox(store(), account);
      const folderId = c.req.param('folderId') ?? '';
      if (!box.folders.some((f) => f.id === folderId)) return graphError(c, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
      const q = c.req.query();
      const tokenId = q.$deltatoken ?? q.$skiptoken;
      let cur: DeltaState;
      if (tokenId) {
        const saved = store().deltaTokens.get(tokenId);
        if (!saved || saved.account !== account || saved.folderId !== folderId) {
          record(c, account, 410);
          c.header('Location', `${base()}/me/contactFolders/${folderId}/contacts/delta`);
          return graphError(c, 410, 'syncStateNotFound', 'The sync state generation is not found. Please do a full sync.');
        }
        // A delta token starts a new round up to now; a skip token continues the round it belongs to.
        cur =
          saved.kind === 'delta'
            ? { ...saved, upTo: box.version, after: saved.since, kind: 'skip', pageSize: pageSize(c) }
            : { ...saved, pageSize: pageSize(c) };
      } else {
        const select = q.$select
          ? q.$select
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : null;
        cur = { account, folderId, since: 0, upTo: box.version, after: 0, select, pageSize: pageSize(c), kind: 'skip' };
      }
      // Only this page's changes are read (the folder's change log is in version order): a page costs
      // the same in a mailbox of 300 contacts as in one of 100,000. A contact changed after the round
      // began is not in it (the next round reports it), so the pages of a round never shift.
      const { changes, more } = folderChanges(box, folderId, { after: cur.after, upTo: cur.upTo, limit: cur.pageSize, withRemoved: cur.since > 0 });
      const page = changes.map(({ change, contact }) => (contact ? project(contact, cur.select) : { id: change.id, '@removed': { reason: 'deleted' } }));
      const next = `${randomBytes(18).toString('base64url')}`;
      const link = `${base()}/me/contactFolders/${folderId}/contacts/delta`;
      const body: Record<string, unknown> = { '@odata.context': `${base()}/$metadata#Collection(contact)`, value: page };
      if (more) {
        store().deltaTokens.set(next, { ...cur, after: changes.at(-1)!.change.version });
        body['@odata.nextLink'] = `${link}?$skiptoken=${next}`;
      } else {
        store().deltaTokens.set(next, { ...cur, since: cur.upTo, after: cur.upTo, kind: 'delta' });
        body['@odata.deltaLink'] = `${link}?$deltatoken=${next}`;
      }
      c.header('Preference-Applied', `odata.maxpagesize=${cur.pageSize}`);
      record(c, account, 200, { object: { select: cur.select, items: page.length, initial: !tokenId } });
      return c.json(body);
    }),
  );

  app.post(
    `${GRAPH}/me/sendMail`,
    graph(async (c, account) => {
      const body = (await c.req.json().catch(() => null)) as {
        message?: { subject?: string; toRecipients?: Array<{ emailAddress?: { address?: string } }>; body?: { content?: string } };
      } | null;
      const to = body?.message?.toRecipients?.map((r) => r.emailAddress?.address).filter(Boolean) ?? [];
      // Sending needs the delegated Mail.Send permission in the token.
      const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
      if (!(state.tokens.get(token)?.scope ?? '').split(/\s+/).includes('Mail.Send')) {
        record(c, account, 403);
        return graphError(c, 403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
      }
      if (!body?.message || !to.length) return graphError(c, 400, 'ErrorInvalidRecipients', 'At least one recipient is not valid.');
      record(c, account, 202, { write: true, object: { to, subject: body.message.subject ?? '', body: body.message.body?.content ?? '' } });
      return c.body(null, 202);
    }),
  );

  app.post(`${GRAPH}/$batch`, async (c) => {
    const auth = c.req.header('authorization');
    const body = (await c.req.json().catch(() => null)) as {
      requests?: Array<{ id: string; method: string; url: string; headers?: Record<string, string>; body?: unknown }>;
    } | null;
    const requests = body?.requests;
    if (!Array.isArray(requests) || !requests.length) return graphError(c, 400, 'BadRequest', 'Invalid batch payload format.');
    if (requests.length > 20) return graphError(c, 400, 'BadRequest', 'Number of batch request steps exceeds the maximum of 20.');
    const responses: Array<{ id: string; status: number; headers: Record<string, string>; body: unknown }> = [];
    // Outlook runs at most four steps of a batch at a time.
    for (let i = 0; i < requests.length; i += MAILBOX_CONCURRENCY) {
      const slice = requests.slice(i, i + MAILBOX_CONCURRENCY);
      const done = await Promise.all(
        slice.map(async (r) => {
          const url = `${ctx.origin()}${GRAPH}/${r.url.replace(/^\//, '')}`;
          const res = await app.request(url, {
            method: r.method,
            headers: { ...(r.headers ?? {}), ...(auth ? { authorization: auth } : {}), ...(r.body ? { 'content-type': 'application/json' } : {}) },
            body: r.body ? JSON.stringify(r.body) : undefined,
          });
          const text = await res.text();
          const headers: Record<string, string> = {};
          res.headers.forEach((v, k) => {
            if (k === 'retry-after' || k === 'content-type') headers[k] = v;
          });
          return { id: r.id, status: res.status, headers, body: text ? (JSON.parse(text) as unknown) : null };
        }),
      );
      responses.push(...done);
    }
    return c.json({ responses });
  });

  // --- Test knobs (not part of Graph) ---
  app.get('/_sandbox/microsoft/mailboxes/:account', (c) => {
    const box = mailbox(store(), c.req.param('account').toLowerCase());
    return c.json({ folders: box.folders, contacts: [...box.contacts.values()] });
  });
  app.post('/_sandbox/microsoft/mailboxes/:account/contacts', async (c) => {
    const box = mailbox(store(), c.req.param('account').toLowerCase());
    const b = (await c.req.json().catch(() => null)) as {
      folderId?: string;
      id?: string;
      givenName?: string;
      surname?: string;
      email?: string;
      companyName?: string;
      jobTitle?: string;
    } | null;
    const folderId = b?.folderId ?? box.folders[0]!.id;
    if (!b?.givenName || !b.surname || !box.folders.some((f) => f.id === folderId))
      return c.json({ error: 'givenName, surname and a known folderId are required' }, 400);
    return c.json({ contact: putContact(box, folderId, { ...b, givenName: b.givenName, surname: b.surname }) }, 201);
  });
  app.delete('/_sandbox/microsoft/mailboxes/:account/contacts/:id', (c) => {
    const box = mailbox(store(), c.req.param('account').toLowerCase());
    return deleteContact(box, c.req.param('id')) ? c.body(null, 204) : c.json({ error: 'no such contact' }, 404);
  });
  /** Adds `count` generated contacts spread over the mailbox's folders (benchmarks: a large address book). */
  app.post('/_sandbox/microsoft/mailboxes/:account/seed', async (c) => {
    const box = mailbox(store(), c.req.param('account').toLowerCase());
    const b = (await c.req.json().catch(() => null)) as { count?: number; prefix?: string } | null;
    const count = Number(b?.count);
    if (!Number.isInteger(count) || count < 1 || count > 200_000) return c.json({ error: 'count: an integer from 1 to 200000' }, 400);
    const prefix = (b?.prefix ?? 'bulk').replace(/[^a-z0-9]/gi, '');
    for (let i = 0; i < count; i++) {
      const folder = box.folders[i % box.folders.length]!;
      putContact(box, folder.id, { givenName: `${prefix}${i}`, surname: `Surname${i}`, email: `${prefix}${i}@contacts.example` });
    }
    return c.json({ contacts: box.contacts.size }, 201);
  });
  /** Forgets every delta and skip token (the next delta request answers 410 syncStateNotFound). */
  app.post('/_sandbox/microsoft/expire-delta-tokens', (c) => {
    store().deltaTokens.clear();
    return c.body(null, 204);
  });
};
