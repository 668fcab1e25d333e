/** @jsxImportSource hono/jsx */
import { z } from 'zod';
import { listUsers } from '../../../auth/users.ts';
import { decodeCursor, listSecurityEvents } from '../../../security/events.ts';
import type { WebApp } from '../../env.ts';
import { PageError } from '../../errors.ts';
import { sendPage } from '../../render.ts';
import { AdminPage, utc } from './common.tsx';

const Filter = z.object({
  kind: z
    .string()
    .regex(/^[a-z_]{1,64}$/)
    .optional(),
  outcome: z.enum(['success', 'failure']).optional(),
  userId: z.uuid().optional(),
  cursor: z.string().max(200).optional(),
});

const KINDS = ['login', 'logout', 'session_ended_by_admin', 'user_updated', 'sign_in_policy_updated', 'saml_config_updated'];

/** `/admin/security-events`: the organization's sign-in and session log, newest first (`listSecurityEvents`, as the API). */
export function registerSecurityEventPages(web: WebApp): void {
  web.get('/admin/security-events', async (c) => {
    const services = c.get('services');
    const orgId = c.get('viewer').principal.organizationId;
    const parsed = Filter.safeParse(Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== '')));
    if (!parsed.success) throw new PageError(400, 'validation_failed', 'The filter is not valid.');
    const q = parsed.data;
    if (q.cursor && !decodeCursor(q.cursor)) throw new PageError(400, 'invalid_cursor', 'That page link is not valid.');
    const [page, users] = await Promise.all([listSecurityEvents(services.db, { organizationId: orgId, ...q, limit: 50 }), listUsers(services.db, orgId)]);
    const email = new Map(users.map((u) => [u.id, u.email]));
    const query = new URLSearchParams(Object.entries(q).filter(([k, v]) => k !== 'cursor' && v) as Array<[string, string]>);
    return sendPage(
      c,
      <AdminPage c={c} title="Security events">
        <form method="get" action="/admin/security-events" class="filters card" aria-label="Filter">
          <label for="se-kind">
            Kind
            <select id="se-kind" name="kind">
              <option value="">All kinds</option>
              {KINDS.map((k) => (
                <option value={k} selected={q.kind === k}>
                  {k.replaceAll('_', ' ')}
                </option>
              ))}
            </select>
          </label>
          <label for="se-outcome">
            Outcome
            <select id="se-outcome" name="outcome">
              <option value="">Any</option>
              <option value="success" selected={q.outcome === 'success'}>
                success
              </option>
              <option value="failure" selected={q.outcome === 'failure'}>
                failure
              </option>
            </select>
          </label>
          <label for="se-user">
            User
            <select id="se-user" name="userId">
              <option value="">Anyone</option>
              {users.map((u) => (
                <option value={u.id} selected={q.userId === u.id}>
                  {u.email}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Filter</button>
        </form>
        <section class="table-wrap" tabindex={0} aria-label="Security events (scrolls sideways)">
          <table id="security-events">
            <thead>
              <tr>
                <th scope="col">When (UTC)</th>
                <th scope="col">What</th>
                <th scope="col">Outcome</th>
                <th scope="col">User</th>
                <th scope="col">By</th>
                <th scope="col">Method</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {page.events.map((e) => (
                <tr>
                  <td>{utc(e.createdAt)}</td>
                  <td>{e.kind.replaceAll('_', ' ')}</td>
                  <td>
                    {e.outcome}
                    {e.reason ? ` (${e.reason})` : ''}
                  </td>
                  <td>{e.userId ? (email.get(e.userId) ?? 'a removed user') : '—'}</td>
                  <td>{e.actorUserId ? (email.get(e.actorUserId) ?? 'a removed user') : '—'}</td>
                  <td>{e.method ?? '—'}</td>
                  <td>{e.ip ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        {page.events.length ? null : <p id="security-events-empty">No events{query.size ? ' match this filter' : ' yet'}.</p>}
        {page.nextCursor ? (
          <p>
            <a href={`/admin/security-events?${query}${query.size ? '&' : ''}cursor=${encodeURIComponent(page.nextCursor)}`}>Older events</a>
          </p>
        ) : null}
      </AdminPage>,
    );
  });
}
