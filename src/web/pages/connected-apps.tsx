/** @jsxImportSource hono/jsx */
import { connectors } from '../../../connectors/registry.ts';
import { type ConnectionView, listConnections } from '../../connections/service.ts';
import { CATEGORIES } from '../../consent/categories.ts';
import { statusWords } from '../connection-status.ts';
import type { WebApp } from '../env.ts';
import { Csrf, Layout, Notice } from '../layout.tsx';
import { providerOrigins } from '../provider-origins.ts';
import { sendPage } from '../render.ts';

/** Plain words for the codes the OAuth callback sends back with `?connection_error=`. */
const CONNECT_ERRORS: Record<string, string> = {
  authorization_denied: 'You cancelled at the provider; nothing was connected.',
  authorization_failed: 'The provider did not authorize the connection. Try again.',
  state_invalid: 'The sign-in at the provider took too long or was started elsewhere. Start again.',
  state_session_mismatch: 'That authorization was started by someone else. Start again.',
  token_exchange_failed: 'The provider did not accept the authorization. Try again in a moment.',
  account_mismatch: 'You signed in with a different account than this connection uses.',
  refresh_token_missing: 'The provider gave no lasting access this time. Connect again and confirm access.',
  connection_revoked: 'This connection was disconnected meanwhile.',
};

/** `GET /apps`: every platform the organization allows, with the user's connections to it. */
export { ConnectionSummary };

export function registerConnectedApps(web: WebApp): void {
  web.get('/apps', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    c.set('formTargets', providerOrigins(services.config));
    const all = await listConnections(services, { principal: viewer.principal, all: false });
    const org = await services.db.selectFrom('organizations').select('settings').where('id', '=', viewer.principal.organizationId).executeTakeFirst();
    const disabled = new Set(org?.settings?.disabledPlatforms ?? []);
    const live = all.filter((v) => v.status !== 'revoked');
    const error = c.req.query('error');
    return sendPage(
      c,
      <Layout title="Connected apps" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="apps">
        {error ? <Notice kind="error">{CONNECT_ERRORS[error] ?? 'Connecting did not work. Try again.'}</Notice> : null}
        <p class="muted">
          The platforms your organization lets you connect. Each one receives only what you chose, and every transfer is logged on{' '}
          <a href="/shared">Shared data</a>.
        </p>
        <div class="cards">
          {connectors.map((connector) => {
            const mine = live.filter((v) => v.platform === connector.manifest.id);
            const off = disabled.has(connector.manifest.id);
            const isFeed = connector.manifest.authKind === 'feed_token';
            return (
              <section class="card" aria-labelledby={`platform-${connector.manifest.id}`}>
                <h2 id={`platform-${connector.manifest.id}`}>{connector.manifest.displayName}</h2>
                {mine.length === 0 ? <p class="muted">Not connected.</p> : mine.map((v) => <ConnectionSummary view={v} csrf={c.get('csrfToken')} />)}
                {off ? (
                  <p class="muted">Your administrator has switched this platform off.</p>
                ) : connector.pages?.card ? (
                  <div class="actions">
                    <a class="button secondary" href={connector.pages.card.href}>
                      {connector.pages.card.label}
                    </a>
                  </div>
                ) : isFeed ? (
                  <div class="actions">
                    <a class="button secondary" href="/feeds">
                      Manage iCal feeds
                    </a>
                  </div>
                ) : (
                  <div class="actions">
                    <a class="button" href={`/apps/connect/${connector.manifest.id}`}>
                      {mine.length ? 'Connect another account' : `Connect ${connector.manifest.displayName}`}
                    </a>
                  </div>
                )}
              </section>
            );
          })}
        </div>
      </Layout>,
    );
  });
}

function ConnectionSummary(props: { view: ConnectionView; csrf: string }) {
  const v = props.view;
  const words = statusWords(v);
  const tone = words.tone === 'ok' ? 'status-ok' : words.tone === 'bad' ? 'status-bad' : words.tone === 'warn' ? 'status-warn' : '';
  return (
    <div class="connection" data-connection-id={v.id}>
      <p>
        <strong>{v.account ?? 'Account not confirmed yet'}</strong> <span class={`status ${tone}`}>{words.label}</span>
      </p>
      <p class="muted">{words.detail}</p>
      {v.lastError && v.status !== 'revoked' ? <p class="muted">Last problem: {v.lastError.message}</p> : null}
      <p class="fields">Shares: {v.categories.map((id) => CATEGORIES[id]?.title ?? id).join(', ') || 'nothing'}</p>
      <div class="actions">
        <a class="button secondary" href={`/apps/${v.id}`}>
          Details<span class="sr-only"> of {v.account ?? v.platformName}</span>
        </a>
        {v.status === 'reauth_required' || v.status === 'pending' ? (
          <form method="post" action={`/apps/${v.id}/authorize`} class="inline">
            <Csrf token={props.csrf} />
            <button type="submit">{v.status === 'pending' ? 'Finish connecting' : 'Reconnect'}</button>
          </form>
        ) : null}
        <a class="button secondary" href={`/apps/${v.id}/disconnect`}>
          Disconnect
        </a>
      </div>
    </div>
  );
}
