/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { connectorFor, connectors } from '../../../../connectors/registry.ts';
import { recordAudit } from '../../../audit/audit-log.ts';
import { listUsers } from '../../../auth/users.ts';
import { CATEGORIES, type CategoryId } from '../../../consent/categories.ts';
import type { TransferOutcomeColumn } from '../../../db/types.ts';
import { transferExportHeaders, transferExportStream } from '../../../transfers/export.ts';
import { decodeCursor, listTransfers, type TransferFilters } from '../../../transfers/queries.ts';
import type { WebApp, WebEnv } from '../../env.ts';
import { PageError } from '../../errors.ts';
import { sendPage } from '../../render.ts';
import { AdminPage, utc } from './common.tsx';

const OUTCOMES = ['intent', 'sent', 'failed', 'blocked', 'not_modified', 'received', 'unknown', 'not_sent', 'resolved'] as const;

const SearchSchema = z.object({
  user: z.uuid().optional(),
  platform: z.string().max(64).optional(),
  connection: z.uuid().optional(),
  case: z.string().min(1).max(200).optional(),
  outcome: z.enum(OUTCOMES).optional(),
  direction: z.enum(['outbound', 'inbound']).optional(),
  from: z.iso.date().optional(),
  to: z.iso.date().optional(),
  cursor: z.string().max(100).optional(),
  format: z.enum(['csv', 'json']).optional(),
});

function searchOf(query: Record<string, string>) {
  const parsed = SearchSchema.safeParse(Object.fromEntries(Object.entries(query).filter(([, v]) => v !== '')));
  if (!parsed.success) throw new PageError(400, 'validation_failed', 'The search is not valid (dates are YYYY-MM-DD).');
  const q = parsed.data;
  if (q.platform && !connectorFor(q.platform)) throw new PageError(400, 'unknown_platform', 'There is no such platform.');
  const beforeSeq = q.cursor ? decodeCursor(q.cursor) : null;
  if (q.cursor && beforeSeq === null) throw new PageError(400, 'invalid_cursor', 'That page link is not valid.');
  const to = q.to ? new Date(`${q.to}T00:00:00Z`) : undefined;
  if (to) to.setUTCDate(to.getUTCDate() + 1);
  const filters: TransferFilters = {
    userId: q.user,
    platform: q.platform,
    connectionId: q.connection,
    subject: q.case ? { kind: 'caseId', id: q.case } : undefined,
    outcomes: q.outcome ? [q.outcome as TransferOutcomeColumn] : undefined,
    direction: q.direction,
    from: q.from ? new Date(`${q.from}T00:00:00Z`) : undefined,
    to,
  };
  const rest = new URLSearchParams(Object.entries(q).filter(([k, v]) => k !== 'cursor' && k !== 'format' && v) as Array<[string, string]>);
  return { q, filters, beforeSeq, rest };
}

/**
 * `/admin/transfers`: the organization's transfer log, searched by user, platform, connection,
 * case, outcome, direction and dates (keyset pages, `listTransfers`), and exported as CSV or JSON
 * (`/admin/transfers/export`, streamed by the same `transferExportStream` as `GET /v1/transfers/export`,
 * audited the same way).
 */
export function registerAdminTransferPages(web: WebApp): void {
  web.get('/admin/transfers', async (c) => transfersPage(c));

  web.get('/admin/transfers/export', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const { q, filters } = searchOf(c.req.query());
    const format = q.format ?? 'csv';
    const scope = { organizationId: viewer.principal.organizationId };
    await recordAudit(services.db, {
      organizationId: scope.organizationId,
      actor: { kind: 'user', userId: viewer.principal.userId },
      action: 'transfers.export',
      target: 'organization',
      details: { format, filters: { ...q, format: undefined, cursor: undefined } },
    });
    return new Response(transferExportStream(services.db, services.logger, { scope, filters, format }), {
      status: 200,
      headers: transferExportHeaders(format),
    });
  });
}

async function transfersPage(c: Context<WebEnv>) {
  const services = c.get('services');
  const orgId = c.get('viewer').principal.organizationId;
  const { q, filters, beforeSeq, rest } = searchOf(c.req.query());
  const [page, users] = await Promise.all([
    listTransfers(services.db, { scope: { organizationId: orgId }, filters, limit: 50, beforeSeq }),
    listUsers(services.db, orgId),
  ]);
  const email = new Map(users.map((u) => [u.id, u.email]));
  return sendPage(
    c,
    <AdminPage c={c} title="Transfer log">
      <form method="get" action="/admin/transfers" class="filters card" aria-label="Search">
        <label for="t-user">
          User
          <select id="t-user" name="user">
            <option value="">Everyone</option>
            {users.map((u) => (
              <option value={u.id} selected={q.user === u.id}>
                {u.email}
              </option>
            ))}
          </select>
        </label>
        <label for="t-platform">
          Platform
          <select id="t-platform" name="platform">
            <option value="">All platforms</option>
            {connectors.map((k) => (
              <option value={k.manifest.id} selected={q.platform === k.manifest.id}>
                {k.manifest.displayName}
              </option>
            ))}
          </select>
        </label>
        <label for="t-outcome">
          Outcome
          <select id="t-outcome" name="outcome">
            <option value="">Any</option>
            {OUTCOMES.map((o) => (
              <option value={o} selected={q.outcome === o}>
                {o.replaceAll('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label for="t-direction">
          Direction
          <select id="t-direction" name="direction">
            <option value="">Both</option>
            <option value="outbound" selected={q.direction === 'outbound'}>
              sent out
            </option>
            <option value="inbound" selected={q.direction === 'inbound'}>
              received
            </option>
          </select>
        </label>
        <label for="t-case">
          Case id
          <input type="text" id="t-case" name="case" value={q.case ?? ''} />
        </label>
        <label for="t-from">
          From
          <input type="date" id="t-from" name="from" value={q.from ?? ''} />
        </label>
        <label for="t-to">
          To
          <input type="date" id="t-to" name="to" value={q.to ?? ''} />
        </label>
        <button type="submit" id="search-transfers">
          Search
        </button>
      </form>
      <p>
        Export what matches:{' '}
        <a href={`/admin/transfers/export?${rest}${rest.size ? '&' : ''}format=csv`} id="export-csv" download>
          CSV
        </a>{' '}
        ·{' '}
        <a href={`/admin/transfers/export?${rest}${rest.size ? '&' : ''}format=json`} id="export-json" download>
          JSON
        </a>
      </p>
      <section class="table-wrap" tabindex={0} aria-label="Transfers (scrolls sideways)">
        <table id="admin-transfers">
          <thead>
            <tr>
              <th scope="col">Row</th>
              <th scope="col">When (UTC)</th>
              <th scope="col">User</th>
              <th scope="col">Platform and account</th>
              <th scope="col">What</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((r) => (
              <tr>
                <td>{r.seq}</td>
                <td>{utc(r.createdAt)}</td>
                <td>{r.userId ? (email.get(r.userId) ?? 'a removed user') : '—'}</td>
                <td>
                  {connectorFor(r.platform ?? '')?.manifest.displayName ?? r.platform ?? '—'} {r.recipientAccount ?? ''}
                </td>
                <td>
                  {r.direction === 'inbound' ? 'received ' : ''}
                  {r.operation} · {r.categories.map((id) => CATEGORIES[id as CategoryId]?.title ?? id).join(', ')}
                </td>
                <td>
                  {r.outcome.replaceAll('_', ' ')}
                  {r.reason ? ` (${r.reason})` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {page.items.length ? null : <p id="transfers-empty">No transfer matches.</p>}
      {page.nextCursor ? (
        <p>
          <a href={`/admin/transfers?${rest}${rest.size ? '&' : ''}cursor=${page.nextCursor}`}>Older transfers</a>
        </p>
      ) : null}
    </AdminPage>,
  );
}
