/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { caseScopeWords } from '../../src/consent/case-scope.ts';
import { CATEGORIES } from '../../src/consent/categories.ts';
import type { CaseScope } from '../../src/db/types.ts';
import type { WebApp, WebEnv } from '../../src/web/env.ts';
import { PageError } from '../../src/web/errors.ts';
import { relative } from '../../src/web/format.ts';
import { Csrf, Layout, Notice } from '../../src/web/layout.tsx';
import type { KitConnectionView as ConnectionView, PageKit } from '../../src/web/page-kit.ts';
import { sendFragment, sendPage } from '../../src/web/render.ts';
import { pageAdmin } from '../../src/web/session.ts';
import { registerImanageChangePages } from './change-pages.tsx';
import { DELETE_POLICY_WORDS, registerImanageConnectPages } from './connect-pages.tsx';
import { DELETE_POLICIES, manifest } from './manifest.ts';

/**
 * iManage Work's pages. `GET /imanage`: the organization's connection — server, library, case scope,
 * delete policy, last sync, last error, the live progress of a running sync — for everyone; an
 * administrator (any of the organization's, not only the one who connected it) also chooses the library and the delete policy (`POST /imanage/{id}/settings`, the
 * API's PATCH), finishes or repeats the sign-in and disconnects (receipt). The connect flow is in
 * connect-pages.tsx. A member gets the status, and the 403 `admin_required` page for any admin action.
 */
export function registerImanagePages(web: WebApp, kit: PageKit): void {
  const { Progress } = kit;
  registerImanageConnectPages(web, kit);
  registerImanageChangePages(web, kit);

  web.get('/imanage', async (c) => {
    const viewer = c.get('viewer');
    const views = await kit.organizationConnections(c, manifest.id);
    const isAdmin = viewer.principal.role === 'admin' && !viewer.restricted;
    const hosts = views.flatMap((v) => (typeof v.settings.host === 'string' ? [originOf(v.settings.host)] : []));
    // Finishing or repeating the sign-in goes on to the firm's own server.
    c.set(
      'formTargets',
      hosts.filter((h): h is string => h !== null),
    );
    return sendPage(
      c,
      <Layout title="iManage Work" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="apps" scripts={['/assets/live.js']}>
        {c.req.query('connected') === '1' ? <Notice kind="ok">Connected. The first sync is under way; you can leave this page, it continues.</Notice> : null}
        {/^[0-9]+$/.test(c.req.query('changed') ?? '') ? (
          <Notice kind="ok">Saved as consent version {c.req.query('changed')}. The sync that applies it has started.</Notice>
        ) : null}
        {c.req.query('saved') === '1' ? <Notice kind="ok">Saved. The sync that applies it has started.</Notice> : null}
        <p class="muted">
          iManage Work is connected by an administrator for the whole organization: Casebridge files each case’s documents into its matter workspace. Every
          upload is logged on <a href="/shared">Shared data</a> of the administrator who connected it.
        </p>
        {views.length === 0 ? (
          <section class="card" aria-labelledby="none-heading">
            <h2 id="none-heading">Not connected</h2>
            {isAdmin ? (
              <a class="button" href="/imanage/connect" id="connect-imanage">
                Connect iManage Work
              </a>
            ) : (
              <p>Your administrator has not connected iManage Work.</p>
            )}
          </section>
        ) : (
          views.map((v) => <ConnectionCard view={v} c={c} admin={isAdmin} kit={kit} />)
        )}
      </Layout>,
    );
  });

  web.get('/imanage/:id/progress', async (c) => {
    const view = await oneOf(kit, c, c.req.param('id'));
    return sendFragment(c, <Progress view={view} liveUrl={`/imanage/${view.id}/progress`} />);
  });

  web.post('/imanage/:id/settings', pageAdmin(), async (c) => {
    const view = await oneOf(kit, c, c.req.param('id'));
    const form = await c.req.parseBody();
    const patch: Record<string, unknown> = {};
    if (typeof form.libraryId === 'string' && form.libraryId.trim()) patch.libraryId = form.libraryId.trim();
    if (typeof form.deletePolicy === 'string') patch.deletePolicy = form.deletePolicy;
    if (!Object.keys(patch).length) throw new PageError(400, 'validation_failed', 'Choose a library or a delete policy.');
    await kit.changeSettings(c, view.id, patch);
    return c.redirect('/imanage?saved=1', 303);
  });
}

async function oneOf(kit: PageKit, c: Context<WebEnv>, id: string): Promise<ConnectionView> {
  const view = (await kit.organizationConnections(c, manifest.id)).find((v) => v.id === id);
  if (!view) throw new PageError(404, 'not_found', 'There is no such iManage connection in your organization.');
  return view;
}

function originOf(host: string): string | null {
  try {
    return new URL(host).origin;
  } catch {
    return null;
  }
}

function ConnectionCard(props: { view: ConnectionView; c: Context<WebEnv>; admin: boolean; kit: PageKit }) {
  const { view: v, c } = props;
  const { Progress } = props.kit;
  const s = v.settings as {
    host?: string;
    libraryId?: string | null;
    libraries?: string[];
    deletePolicy?: (typeof DELETE_POLICIES)[number];
  };
  const csrf = c.get('csrfToken');
  const policy = s.deletePolicy ?? 'leave';
  return (
    <section class="card" aria-labelledby={`imanage-${v.id}`} data-connection-id={v.id}>
      <h2 id={`imanage-${v.id}`}>{s.host ?? 'iManage Work'}</h2>
      <Progress view={v} liveUrl={`/imanage/${v.id}/progress`} />
      <dl class="facts" id="imanage-facts">
        <dt>Server</dt>
        <dd id="imanage-host">{s.host ?? '—'}</dd>
        <dt>Library</dt>
        <dd id="imanage-library">{s.libraryId ?? 'not chosen yet'}</dd>
        <dt>Cases</dt>
        <dd id="imanage-scope">{caseScopeWords(v.caseScope as CaseScope | null, 'All cases')}</dd>
        <dt>Filed</dt>
        <dd>{v.categories.map((id) => CATEGORIES[id]?.title ?? id).join(', ') || 'nothing'}</dd>
        <dt>Documents Casebridge stops filing</dt>
        <dd id="imanage-delete-policy">{DELETE_POLICY_WORDS[policy]}</dd>
        <dt>Items</dt>
        <dd id="imanage-counts">
          {v.counts.synced} filed, {v.counts.errors} not filed{v.counts.errors ? ' (a case without a matter workspace, or a document iManage refused)' : ''}
        </dd>
        <dt>Last sync</dt>
        <dd id="imanage-last-sync">{v.lastSyncAt ? relative(new Date(v.lastSyncAt)) : 'not yet'}</dd>
        <dt>Last problem</dt>
        <dd id="imanage-last-error">{v.lastError ? v.lastError.message : 'none'}</dd>
        <dt>Consent</dt>
        <dd>{v.consent ? `version ${v.consent.version}, given ${relative(new Date(v.consent.grantedAt))}` : 'none'}</dd>
      </dl>
      {props.admin ? (
        <form method="post" action={`/imanage/${v.id}/settings`} id="imanage-settings">
          <Csrf token={csrf} />
          <p>
            <label for="library-choice">Library to file into</label>
            <br />
            {s.libraries?.length ? (
              <select id="library-choice" name="libraryId">
                {s.libraries.map((l) => (
                  <option value={l} selected={l === s.libraryId}>
                    {l}
                  </option>
                ))}
              </select>
            ) : (
              <input type="text" id="library-choice" name="libraryId" maxlength={64} value={s.libraryId ?? ''} placeholder="ACTIVE" />
            )}
          </p>
          <fieldset>
            <legend>A document Casebridge stops filing</legend>
            {DELETE_POLICIES.map((p) => (
              <div class="choice">
                <input type="radio" id={`policy-${p}`} name="deletePolicy" value={p} checked={policy === p} />
                <label for={`policy-${p}`}>{DELETE_POLICY_WORDS[p]}</label>
              </div>
            ))}
          </fieldset>
          <div class="actions">
            <button type="submit" id="save-imanage-settings">
              Save
            </button>
          </div>
        </form>
      ) : null}
      {props.admin ? (
        <div class="actions">
          {v.status === 'pending' || v.status === 'reauth_required' ? (
            <form method="post" action={`/apps/${v.id}/authorize`} class="inline">
              <Csrf token={csrf} />
              <button type="submit">{v.status === 'pending' ? 'Finish connecting' : 'Reconnect'}</button>
            </form>
          ) : null}
          {v.status !== 'revoked' ? (
            <a class="button secondary" href={`/imanage/${v.id}/change`} id="change-imanage-consent">
              Change what is shared
            </a>
          ) : null}
          <a class="button secondary" href={`/shared?connection=${v.id}`}>
            See what was filed
          </a>
          <a class="button secondary" href={`/apps/${v.id}/disconnect`} id="disconnect-imanage">
            Disconnect
          </a>
        </div>
      ) : null}
    </section>
  );
}
