/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { connectorFor, connectors } from '../../../connectors/registry.ts';
import { clientAddress } from '../../api/client-address.ts';
import { endUserSessions } from '../../auth/session-admin.ts';
import { listUsers } from '../../auth/users.ts';
import { listConnections } from '../../connections/service.ts';
import { enqueueRevocation } from '../../revocation/queue.ts';
import { adminRevocation, RevocationError, type RevocationTarget, resolveTarget } from '../../revocation/service.ts';
import { statusWords } from '../connection-status.ts';
import type { WebApp, WebEnv } from '../env.ts';
import { PageError } from '../errors.ts';
import { relative } from '../format.ts';
import { Csrf, Layout, Notice } from '../layout.tsx';
import { sendPage } from '../render.ts';
import { pageAdmin } from '../session.ts';
import { registerApiKeyPages } from './admin/api-keys.tsx';
import { actorOf } from './admin/common.tsx';
import { registerPlatformPages } from './admin/platforms.tsx';
import { registerSecurityEventPages } from './admin/security-events.tsx';
import { registerSignInSettings } from './admin/sign-in-settings.tsx';
import { registerAdminTransferPages } from './admin/transfers.tsx';
import { registerWebhookPages } from './admin/webhooks.tsx';

/** Paths of the admin console (each also needs a signed-in session, set up in index.tsx). */
export const ADMIN_PATHS = ['/admin', '/admin/*'];

/** Connections per page of the admin list. */
const ADMIN_PAGE = 50;

const TargetForm = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('connection'), connectionId: z.uuid() }),
  z.object({ kind: z.literal('user'), userId: z.uuid() }),
  z.object({ kind: z.literal('platform'), platform: z.string().min(1).max(64) }),
  z.object({ kind: z.literal('organization') }),
]);

function readTarget(raw: Record<string, unknown>): RevocationTarget {
  const kind = raw.kind;
  const parsed = TargetForm.safeParse({
    kind,
    connectionId: raw.connectionId || undefined,
    userId: raw.userId || undefined,
    platform: raw.platform || undefined,
  });
  if (!parsed.success) throw new PageError(400, 'validation_failed', 'Choose what to revoke: a connection, a user, a platform or the whole organization.');
  if (parsed.data.kind === 'platform' && !connectorFor(parsed.data.platform)) throw new PageError(400, 'unknown_platform', 'There is no such platform.');
  return parsed.data;
}

/**
 * The admin console: `/admin` (integrity, links), `/admin/connections` (every connection with its
 * status and last error), `/admin/users` (users, roles, live sessions) and `/admin/revoke` (choose a
 * target, see what it covers, confirm; then the revocation's progress and signed receipt on
 * `/receipts/{id}`). Administrators only; the same domain functions as the admin API.
 */
export function registerAdminPages(web: WebApp): void {
  for (const path of ADMIN_PATHS) web.use(path, pageAdmin());
  registerSignInSettings(web);
  registerApiKeyPages(web);
  registerPlatformPages(web);
  registerAdminTransferPages(web);
  registerSecurityEventPages(web);
  registerWebhookPages(web);

  web.get('/admin', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const orgId = viewer.principal.organizationId;
    const checkpoint = await services.db
      .selectFrom('transfer_log_checkpoints')
      .select(['seq', 'sealed_at', 'kind'])
      .where('organization_id', '=', orgId)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    const revocations = await services.db
      .selectFrom('revocations')
      .select(['id', 'reason', 'status', 'created_at'])
      .where('organization_id', '=', orgId)
      .orderBy('created_at', 'desc')
      .limit(10)
      .execute();
    return sendPage(
      c,
      <Layout title="Admin console" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="admin">
        <div class="cards">
          <section class="card">
            <h2>Connections</h2>
            <p>Every connection of the organization, with its status and last error.</p>
            <a href="/admin/connections">See connections</a>
          </section>
          <section class="card">
            <h2>Users</h2>
            <p>Users, roles and live sessions.</p>
            <a href="/admin/users">See users</a>
          </section>
          <section class="card">
            <h2>Revoke</h2>
            <p>Stop a connection, a user, a platform or the whole organization at once, with a signed receipt.</p>
            <a href="/admin/revoke">Revoke access</a>
          </section>
          <section class="card">
            <h2>Sign-in</h2>
            <p>Workspace domains, the SAML identity provider (from its metadata), a test sign-in.</p>
            <a href="/admin/sign-in">Sign-in settings</a>
          </section>
          <section class="card">
            <h2>API keys</h2>
            <p>Keys of the case-management app: create (shown once), revoke.</p>
            <a href="/admin/api-keys">Manage API keys</a>
          </section>
          <section class="card">
            <h2>Webhooks</h2>
            <p>Endpoints that receive signed events: create, rotate the secret, delete, each one’s delivery log with Replay.</p>
            <a href="/admin/webhooks">Manage webhooks</a>
          </section>
          <section class="card">
            <h2>Platforms</h2>
            <p>Switch a platform on or off for the organization.</p>
            <a href="/admin/platforms">Platform switches</a>
          </section>
          <section class="card">
            <h2>Transfer log</h2>
            <p>Search every transfer of the organization; export as CSV or JSON.</p>
            <a href="/admin/transfers">Search transfers</a>
          </section>
          <section class="card">
            <h2>Access report</h2>
            <p>Everything shared about a person, by e-mail address.</p>
            <a href="/admin/access">Access report</a>
          </section>
          <section class="card">
            <h2>Security events</h2>
            <p>Sign-ins (with failure reasons), sign-outs, sessions ended, settings changed.</p>
            <a href="/admin/security-events">Security events</a>
          </section>
          <section class="card">
            <h2>Queues</h2>
            <p>Sync, import, revoke and maintenance jobs (read-only).</p>
            <a href="/admin/queues">Open the queue dashboard</a>
          </section>
          <section class="card" aria-labelledby="integrity-heading">
            <h2 id="integrity-heading">Integrity</h2>
            <p id="last-checkpoint">
              {checkpoint
                ? `Transfer log sealed up to row ${checkpoint.seq} ${relative(checkpoint.sealed_at)} (${checkpoint.kind} checkpoint, Ed25519-signed).`
                : 'No checkpoint yet: the first is signed within the checkpoint interval.'}
            </p>
            <p class="muted">
              Verify the whole chain with <code>npx casebridge transfers verify --org {orgId}</code> or <code>GET /v1/admin/transfers/verify</code>.
            </p>
          </section>
        </div>
        <section aria-labelledby="revocations-heading">
          <h2 id="revocations-heading">Recent revocations</h2>
          {revocations.length ? (
            <ul class="plain">
              {revocations.map((r) => (
                <li>
                  <a href={`/receipts/${r.id}`}>{r.reason}</a>{' '}
                  <span class="muted">
                    · {r.status.replaceAll('_', ' ')} · {relative(r.created_at)}
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p>None yet.</p>
          )}
        </section>
      </Layout>,
    );
  });

  web.get('/admin/connections', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const pageNo = Math.max(1, Math.min(10_000, Number.parseInt(c.req.query('page') ?? '1', 10) || 1));
    const views = await listConnections(services, { principal: viewer.principal, all: true, limit: ADMIN_PAGE + 1, offset: (pageNo - 1) * ADMIN_PAGE });
    const more = views.length > ADMIN_PAGE;
    views.length = Math.min(views.length, ADMIN_PAGE);
    const ownerIds = [...new Set(views.map((v) => v.userId))];
    const users = new Map(
      ownerIds.length
        ? (
            await services.db
              .selectFrom('users')
              .select(['id', 'email'])
              .where('organization_id', '=', viewer.principal.organizationId)
              .where('id', 'in', ownerIds)
              .execute()
          ).map((u) => [u.id, u.email])
        : [],
    );
    return sendPage(
      c,
      <Layout title="Connections" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="admin">
        <p>
          <a href="/admin">Admin console</a> › Connections, page {pageNo}
        </p>
        <section class="table-wrap" tabindex={0} aria-label="Connections (scrolls sideways)">
          <table id="admin-connections">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Platform and account</th>
                <th scope="col">Status</th>
                <th scope="col">Last problem</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {views.map((v) => (
                <tr>
                  <td>{users.get(v.userId) ?? v.userId}</td>
                  <td>
                    {v.platformName} {v.account ?? ''}
                  </td>
                  <td>{statusWords(v).label}</td>
                  <td>{v.lastError && v.status !== 'revoked' ? v.lastError.message : '—'}</td>
                  <td>
                    {v.status === 'revoked' ? (
                      '—'
                    ) : (
                      <a href={`/admin/revoke?kind=connection&connectionId=${v.id}`}>
                        Revoke<span class="sr-only"> {v.account ?? v.platformName}</span>
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <p>
          {pageNo > 1 ? <a href={`/admin/connections?page=${pageNo - 1}`}>Newer</a> : null}{' '}
          {more ? <a href={`/admin/connections?page=${pageNo + 1}`}>Older</a> : null}
        </p>
      </Layout>,
    );
  });

  web.get('/admin/users', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const users = await listUsers(services.db, viewer.principal.organizationId);
    const sessions = await Promise.all(users.map((u) => services.sessions.listForUser(u.id)));
    return sendPage(
      c,
      <Layout title="Users" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="admin">
        <p>
          <a href="/admin">Admin console</a> › Users ({users.length})
        </p>
        {c.req.query('ended') ? <Notice kind="ok">{`${c.req.query('ended')} session(s) ended.`}</Notice> : null}
        <section class="table-wrap" tabindex={0} aria-label="Users (scrolls sideways)">
          <table id="admin-users">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Live sessions</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u, i) => (
                <tr>
                  <td>
                    {u.name ? `${u.name} · ` : ''}
                    {u.email}
                  </td>
                  <td>{u.role}</td>
                  <td>{u.status}</td>
                  <td>{sessions[i]?.length ?? 0}</td>
                  <td>
                    <a href={`/admin/revoke?kind=user&userId=${u.id}`}>
                      Revoke<span class="sr-only"> {u.email}</span>
                    </a>
                    {sessions[i]?.length ? (
                      <form method="post" action={`/admin/users/${u.id}/end-sessions`} class="inline">
                        <Csrf token={c.get('csrfToken')} />{' '}
                        <button type="submit" class="link" data-end-sessions={u.email}>
                          End sessions<span class="sr-only"> of {u.email}</span>
                        </button>
                      </form>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </Layout>,
    );
  });

  web.post('/admin/users/:id/end-sessions', async (c) => {
    const services = c.get('services');
    const userId = c.req.param('id');
    if (!z.uuid().safeParse(userId).success) throw new PageError(404, 'not_found', 'There is no such user in your organization.');
    const ended = await endUserSessions(services, { ...actorOf(c), userId });
    if (ended === null) throw new PageError(404, 'not_found', 'There is no such user in your organization.');
    return c.redirect(`/admin/users?ended=${ended}`, 303);
  });

  web.get('/admin/revoke', async (c) => revokePage(c));

  web.post('/admin/revoke', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const form = await c.req.parseBody();
    const target = readTarget(form);
    const reason = typeof form.reason === 'string' ? form.reason.trim() : '';
    if (!reason || reason.length > 1000) throw new PageError(400, 'validation_failed', 'Give a reason (up to 1,000 characters); it goes into the receipt.');
    if (form.confirm !== 'yes') throw new PageError(400, 'confirmation_required', 'Tick the confirmation to revoke.');
    try {
      const result = await adminRevocation(services, {
        organizationId: viewer.principal.organizationId,
        adminUserId: viewer.principal.userId,
        target,
        reason,
        purgeRemote: form.purgeRemote === 'yes',
        ip: clientAddress(c),
        userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
        enqueue: (id) => enqueueRevocation(services, id),
      });
      return c.redirect(`/receipts/${result.revocationId}`, 303);
    } catch (err) {
      if (err instanceof RevocationError) throw new PageError(404, err.code, 'That target is not in your organization.');
      throw err;
    }
  });
}

/** Step 1 (no target yet): choose; step 2 (a target in the query): what it covers, then confirm. */
async function revokePage(c: Context<WebEnv>) {
  const services = c.get('services');
  const viewer = c.get('viewer');
  const orgId = viewer.principal.organizationId;
  const q = c.req.query();
  const target = q.kind ? readTarget(q) : null;
  let covered: Awaited<ReturnType<typeof listConnections>> = [];
  if (target) {
    try {
      const ids = new Set((await resolveTarget(services.db, { organizationId: orgId, target })).map((r) => r.id));
      covered = (await listConnections(services, { principal: viewer.principal, all: true })).filter((v) => ids.has(v.id));
    } catch (err) {
      if (err instanceof RevocationError) throw new PageError(404, err.code, 'That target is not in your organization.');
      throw err;
    }
  }
  const users = await listUsers(services.db, orgId);
  const live = covered.filter((v) => v.status !== 'revoked');
  const csrf = c.get('csrfToken');
  return sendPage(
    c,
    <Layout title="Revoke access" nonce={c.get('nonce')} csrfToken={csrf} viewer={viewer} current="admin">
      <p>
        <a href="/admin">Admin console</a> › Revoke
      </p>
      <form method="get" action="/admin/revoke" class="card">
        <fieldset>
          <legend>What to revoke</legend>
          <div class="choice">
            <input type="radio" id="kind-user" name="kind" value="user" checked={!target || target.kind === 'user'} />
            <label for="kind-user">A user's connections</label>
          </div>
          <p>
            <label for="user-id">User</label>
            <br />
            <select id="user-id" name="userId">
              {users.map((u) => (
                <option value={u.id} selected={target?.kind === 'user' && target.userId === u.id}>
                  {u.email}
                </option>
              ))}
            </select>
          </p>
          <div class="choice">
            <input type="radio" id="kind-platform" name="kind" value="platform" checked={target?.kind === 'platform'} />
            <label for="kind-platform">Every connection to a platform</label>
          </div>
          <p>
            <label for="platform">Platform</label>
            <br />
            <select id="platform" name="platform">
              {connectors.map((k) => (
                <option value={k.manifest.id} selected={target?.kind === 'platform' && target.platform === k.manifest.id}>
                  {k.manifest.displayName}
                </option>
              ))}
            </select>
          </p>
          <div class="choice">
            <input type="radio" id="kind-organization" name="kind" value="organization" checked={target?.kind === 'organization'} />
            <label for="kind-organization">The whole organization</label>
          </div>
          {target?.kind === 'connection' ? (
            <div class="choice">
              <input type="radio" id="kind-connection" name="kind" value="connection" checked />
              <label for="kind-connection">This one connection</label>
              <input type="hidden" name="connectionId" value={target.connectionId} />
            </div>
          ) : null}
        </fieldset>
        <button type="submit" class="secondary" id="show-covered">
          Show what this revokes
        </button>
      </form>
      {target ? (
        <form method="post" action="/admin/revoke" class="card" id="confirm-form">
          <Csrf token={csrf} />
          <input type="hidden" name="kind" value={target.kind} />
          {target.kind === 'connection' ? <input type="hidden" name="connectionId" value={target.connectionId} /> : null}
          {target.kind === 'user' ? <input type="hidden" name="userId" value={target.userId} /> : null}
          {target.kind === 'platform' ? <input type="hidden" name="platform" value={target.platform} /> : null}
          <h2>
            This revokes {live.length} connection{live.length === 1 ? '' : 's'}
          </h2>
          {live.length ? (
            <ul id="covered">
              {live.map((v) => (
                <li>
                  {v.platformName} {v.account ?? ''} <span class="muted">({statusWords(v).label})</span>
                </li>
              ))}
            </ul>
          ) : (
            <Notice kind="info">Nothing live to revoke: the receipt will say so.</Notice>
          )}
          <p>
            <label for="reason">Reason (goes into the signed receipt)</label>
            <br />
            <input type="text" id="reason" name="reason" required maxlength={1000} />
          </p>
          <div class="choice">
            <input type="checkbox" id="purge-remote" name="purgeRemote" value="yes" />
            <label for="purge-remote">Also remove what Casebridge created at the providers</label>
          </div>
          <div class="choice">
            <input type="checkbox" id="confirm" name="confirm" value="yes" required />
            <label for="confirm">I understand: from the moment this answers, nothing more is sent for these connections.</label>
          </div>
          <button type="submit" class="danger" id="revoke">
            Revoke now
          </button>
        </form>
      ) : null}
    </Layout>,
  );
}
