/** @jsxImportSource hono/jsx */
import { stream } from 'hono/streaming';
import { z } from 'zod';
import { connectors, connectorFor } from '../../../connectors/registry.ts';
import { listAssignedCases } from '../../cases/lookup.ts';
import { CATEGORIES, type CategoryId } from '../../consent/categories.ts';
import { listConnections } from '../../connections/service.ts';
import type { ChainedEntry } from '../../transfers/log-entry.ts';
import { CSV_COLUMNS, csvLine, decodeCursor, iterateTransfers, listTransfers, type TransferFilters } from '../../transfers/queries.ts';
import { shortDate } from '../connection-status.ts';
import { fieldLabel } from '../consent-preview.ts';
import type { WebApp } from '../env.ts';
import { PageError } from '../errors.ts';
import { Layout } from '../layout.tsx';
import { sendPage } from '../render.ts';

/** Rows read per page of the shared-data list. */
const PAGE_ROWS = 50;

const FilterSchema = z.object({
  platform: z.string().max(64).optional(),
  connection: z.uuid().optional(),
  case: z.uuid().optional(),
  from: z.iso.date().optional(),
  to: z.iso.date().optional(),
  cursor: z.string().max(100).optional(),
});

function filtersOf(query: Record<string, string>): { filters: TransferFilters; raw: z.infer<typeof FilterSchema>; beforeSeq: number | null } {
  const cleaned = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== ''));
  const parsed = FilterSchema.safeParse(cleaned);
  if (!parsed.success) throw new PageError(400, 'validation_failed', 'The filter is not valid (dates are YYYY-MM-DD).');
  const q = parsed.data;
  if (q.platform && !connectorFor(q.platform)) throw new PageError(400, 'unknown_platform', 'There is no such platform.');
  const beforeSeq = q.cursor ? decodeCursor(q.cursor) : null;
  if (q.cursor && beforeSeq === null) throw new PageError(400, 'invalid_cursor', 'That page link is not valid.');
  const to = q.to ? new Date(`${q.to}T00:00:00Z`) : undefined;
  if (to) to.setUTCDate(to.getUTCDate() + 1);
  return {
    raw: q,
    beforeSeq,
    filters: {
      platform: q.platform,
      connectionId: q.connection,
      subject: q.case ? { kind: 'caseId', id: q.case } : undefined,
      from: q.from ? new Date(`${q.from}T00:00:00Z`) : undefined,
      to,
      direction: 'outbound',
    },
  };
}

const OUTCOME_WORDS: Record<string, string> = {
  sent: 'sent to',
  failed: 'failed to reach',
  blocked: 'held back from',
  intent: 'being sent to',
  not_modified: 'checked, unchanged, by',
  received: 'received from',
};

/** The page leaves out write-ahead `intent` rows: each is followed by its outcome (the CSV keeps them). */
const SHOWN_OUTCOMES: TransferFilters['outcomes'] = ['sent', 'failed', 'blocked', 'not_modified'];

const OPERATION_WORDS: Record<string, string> = { create: 'new', update: 'updated', delete: 'removals of', read: 'reads of' };

const OPERATION_LABELS: Record<string, string> = { create: 'New', update: 'Update', delete: 'Removal', read: 'Read' };
const OUTCOME_LABELS: Record<string, string> = { sent: 'Sent', failed: 'Failed', blocked: 'Held back', not_modified: 'Unchanged', received: 'Received' };

/** One line of the plain-language summary: consecutive rows of the same kind, day, recipient and consent. */
interface SummaryLine {
  count: number;
  text: string;
}

/** Pure: groups a page of rows (newest first) into sentences like "46 new calendar entries sent to Google Calendar alice@… on 4 Dec 2026, under consent v2". */
export function summarise(rows: readonly ChainedEntry[]): SummaryLine[] {
  const out: Array<SummaryLine & { key: string }> = [];
  for (const r of rows) {
    if (r.outcome === 'intent') continue;
    const day = shortDate(r.createdAt);
    const category = (r.categories[0] ?? null) as CategoryId | null;
    const key = [r.outcome, r.operation, category, r.platform, r.recipientAccount, day, r.consentVersion].join('|');
    const last = out[out.length - 1];
    if (last && last.key === key) {
      last.count++;
      continue;
    }
    out.push({ key, count: 1, text: '' });
  }
  return out.map((g) => {
    const [outcome, operation, category, platform, account, day, version] = g.key.split('|');
    const platformName = connectorFor(platform ?? '')?.manifest.displayName ?? platform;
    const plural = g.count === 1 ? '' : 's';
    const what =
      operation === 'provision'
        ? `set-up step${plural} of the destination`
        : `${OPERATION_WORDS[operation ?? ''] ?? ''} ${category && category in CATEGORIES ? CATEGORIES[category as CategoryId].title.toLowerCase() : 'items'}`.trim();
    const text = `${g.count} ${what} ${OUTCOME_WORDS[outcome ?? ''] ?? outcome} ${platformName}${account ? ` ${account}` : ''} on ${day}${version ? `, under consent v${version}` : ''}`;
    return { count: g.count, text };
  });
}

/**
 * `GET /shared`: the user's own transfer log in plain language, filtered by platform, connection,
 * case and dates, paged; `GET /shared.csv`: the same rows as the API's CSV export. Members see their
 * own connections only, as on the API; an administrator also sees only their own here (the admin
 * console has the organization's).
 */
export function registerSharedData(web: WebApp): void {
  web.get('/shared', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const { filters, raw, beforeSeq } = filtersOf(c.req.query());
    const scope = { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId };
    const page = await listTransfers(services.db, { scope, filters: { ...filters, outcomes: SHOWN_OUTCOMES }, limit: PAGE_ROWS, beforeSeq });
    const lines = summarise(page.items);
    const mine = await listConnections(services, { principal: viewer.principal, all: false });
    const cases = await listAssignedCases(services.db, { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId });
    const caseNumber = new Map(cases.map((k) => [k.id, k.number]));
    const query = new URLSearchParams(Object.entries(raw).filter(([k, v]) => k !== 'cursor' && v) as Array<[string, string]>);
    return sendPage(
      c,
      <Layout title="Shared data" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="shared">
        <p class="muted">Everything Casebridge sent on your behalf, from the tamper-evident transfer log. Payloads are never stored, only their fingerprint.</p>
        <form method="get" action="/shared" class="filters card" aria-label="Filter">
          <label for="f-platform">
            Platform
            <select id="f-platform" name="platform">
              <option value="">All platforms</option>
              {connectors.map((k) => (
                <option value={k.manifest.id} selected={raw.platform === k.manifest.id}>
                  {k.manifest.displayName}
                </option>
              ))}
            </select>
          </label>
          <label for="f-connection">
            Account
            <select id="f-connection" name="connection">
              <option value="">All accounts</option>
              {mine.map((v) => (
                <option value={v.id} selected={raw.connection === v.id}>
                  {v.platformName} {v.account ?? ''} {v.status === 'revoked' ? '(disconnected)' : ''}
                </option>
              ))}
            </select>
          </label>
          <label for="f-case">
            Case
            <select id="f-case" name="case">
              <option value="">All cases</option>
              {cases.map((k) => (
                <option value={k.id} selected={raw.case === k.id}>
                  {k.number} {k.title}
                </option>
              ))}
            </select>
          </label>
          <label for="f-from">
            From
            <input type="date" id="f-from" name="from" value={raw.from ?? ''} />
          </label>
          <label for="f-to">
            To
            <input type="date" id="f-to" name="to" value={raw.to ?? ''} />
          </label>
          <button type="submit">Filter</button>
          <a class="button secondary" href={`/shared.csv?${query}`} download>
            Download CSV
          </a>
        </form>
        <section aria-labelledby="summary-heading">
          <h2 id="summary-heading">In short</h2>
          {lines.length ? (
            <ul id="shared-summary">
              {lines.map((l) => (
                <li>{l.text}</li>
              ))}
            </ul>
          ) : (
            <p id="shared-empty">Nothing was shared{query.size ? ' that matches this filter' : ' yet'}.</p>
          )}
        </section>
        {page.items.length ? (
          <section aria-labelledby="rows-heading">
            <h2 id="rows-heading">Transfers</h2>
            <section class="table-wrap" tabindex={0} aria-label="Transfers (scrolls sideways)">
              <table id="shared-rows">
                <thead>
                  <tr>
                    <th scope="col">When (UTC)</th>
                    <th scope="col">What</th>
                    <th scope="col">To</th>
                    <th scope="col">Case</th>
                    <th scope="col">Fields</th>
                    <th scope="col">Outcome</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((r) => (
                    <tr>
                      <td>{r.createdAt.toISOString().replace('T', ' ').slice(0, 19)}</td>
                      <td>
                        {r.operation === 'provision'
                          ? 'Set-up of the destination'
                          : `${OPERATION_LABELS[r.operation] ?? r.operation} · ${r.categories.map((id) => CATEGORIES[id as CategoryId]?.title ?? id).join(', ')}`}
                      </td>
                      <td>
                        {connectorFor(r.platform ?? '')?.manifest.displayName ?? r.platform} {r.recipientAccount ?? ''}
                      </td>
                      <td>{(r.subjects.caseIds ?? []).map((id) => caseNumber.get(id) ?? 'a case no longer assigned to you').join(', ')}</td>
                      <td>{r.fieldNames.map(fieldLabel).join(', ')}</td>
                      <td>
                        {OUTCOME_LABELS[r.outcome] ?? r.outcome}
                        {r.consentVersion ? ` · consent v${r.consentVersion}` : ''}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
            {page.nextCursor ? (
              <p>
                <a href={`/shared?${query}${query.size ? '&' : ''}cursor=${page.nextCursor}`}>Older transfers</a>
              </p>
            ) : null}
          </section>
        ) : null}
        <section aria-labelledby="receipts-heading">
          <h2 id="receipts-heading">Consent receipts</h2>
          <ul>
            {mine
              .filter((v) => v.consent)
              .map((v) => (
                <li>
                  <a href={`/v1/connections/${v.id}/consents/${v.consent!.version}/receipt`}>
                    {v.platformName} {v.account ?? ''}: consent v{v.consent!.version}
                  </a>
                </li>
              ))}
          </ul>
        </section>
      </Layout>,
    );
  });

  web.get('/shared.csv', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const { filters } = filtersOf(c.req.query());
    const scope = { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId };
    c.header('content-type', 'text/csv; charset=utf-8');
    c.header('content-disposition', 'attachment; filename="casebridge-shared-data.csv"');
    return stream(c, async (s) => {
      await s.write(`${CSV_COLUMNS.join(',')}\r\n`);
      for await (const e of iterateTransfers(services.db, { scope, filters })) await s.write(csvLine(e));
    });
  });
}
