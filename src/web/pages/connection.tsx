/** @jsxImportSource hono/jsx */
import { z } from 'zod';
import { connectorFor } from '../../../connectors/registry.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { type ConnectionView, getConnection, reauthorizeConnection } from '../../connections/service.ts';
import { caseScopeWords } from '../../consent/case-scope.ts';
import { CATEGORIES } from '../../consent/categories.ts';
import type { CaseScope } from '../../db/types.ts';
import { enqueueRevocation } from '../../revocation/queue.ts';
import { loadRevocation, receiptEnvelope, verifyReceipt } from '../../revocation/receipt.ts';
import { disconnectOwnConnection, RevocationError } from '../../revocation/service.ts';
import type { Services } from '../../services.ts';
import { getSigningKey } from '../../transfers/signing.ts';
import { statusWords } from '../connection-status.ts';
import type { WebApp } from '../env.ts';
import { PageError } from '../errors.ts';
import { fieldLabel, relative } from '../format.ts';
import { Csrf, Layout, Notice } from '../layout.tsx';
import { providerOrigins } from '../provider-origins.ts';
import { sendFragment, sendPage } from '../render.ts';

const Uuid = z.uuid();

function idParam(value: string): string {
  if (!Uuid.safeParse(value).success) throw new PageError(404, 'not_found', 'There is no such connection.');
  return value;
}

/**
 * One connection: `GET /apps/{id}` (status, live progress of the running sync, what is shared),
 * `GET /apps/{id}/progress` (the live fragment), `POST /apps/{id}/authorize` (finish or reconnect at
 * the provider), `GET|POST /apps/{id}/disconnect` (confirm, then the revocation pipeline) and
 * `GET /receipts/{id}` (the signed receipt of a disconnect, verified on the page).
 */
export function registerConnectionPages(web: WebApp): void {
  web.get('/apps/:id', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const view = await getConnection(services, { principal: viewer.principal, id: idParam(c.req.param('id')) });
    c.set('formTargets', providerOrigins(services.config));
    const justConnected = c.req.query('connected') === '1';
    // A platform with its own page (an organization's server) shows the first sync there.
    const own = connectorFor(view.platform)?.pages?.card;
    if (justConnected && own) return c.redirect(`${own.href}?connected=1`, 302);
    return sendPage(
      c,
      <Layout title={`${view.platformName}`} nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="apps" scripts={['/assets/live.js']}>
        {justConnected ? <Notice kind="ok">Connected. The first sync is under way; you can leave this page, it continues.</Notice> : null}
        {c.req.query('changed') === '1' ? <Notice kind="ok">Saved as a new consent version. The sync that applies it has started.</Notice> : null}
        <section class="card" aria-labelledby="progress-heading">
          <h2 id="progress-heading">Status</h2>
          <Progress view={view} />
          <p>
            <a href={`/apps/${view.id}`}>Refresh</a>
          </p>
        </section>
        <section class="card" aria-labelledby="shared-heading">
          <h2 id="shared-heading">What is shared</h2>
          <dl class="facts">
            <dt>Account</dt>
            <dd>{view.account ?? 'not confirmed yet'}</dd>
            <dt>Destination</dt>
            <dd>{view.destination ?? '—'}</dd>
            <dt>Cases</dt>
            <dd>{scopeWords(view)}</dd>
            <dt>Consent</dt>
            <dd>{view.consent ? `version ${view.consent.version}, given ${relative(new Date(view.consent.grantedAt))}` : 'none'}</dd>
          </dl>
          <ul>
            {view.categories.map((id) => (
              <li>
                <strong>{CATEGORIES[id].title}</strong>: <span class="fields">{CATEGORIES[id].fields.map(fieldLabel).join(', ')}</span>
              </li>
            ))}
          </ul>
          <div class="actions">
            <a class="button secondary" href={`/shared?connection=${view.id}`}>
              See what was sent
            </a>
            {view.status === 'reauth_required' || view.status === 'pending' ? (
              <form method="post" action={`/apps/${view.id}/authorize`} class="inline">
                <Csrf token={c.get('csrfToken')} />
                <button type="submit">{view.status === 'pending' ? 'Finish connecting' : 'Reconnect'}</button>
              </form>
            ) : null}
            {view.status !== 'revoked' && view.userId === viewer.principal.userId ? (
              <a class="button secondary" href={`/apps/${view.id}/change`}>
                Change what is shared
              </a>
            ) : null}
            {view.status !== 'revoked' && view.userId === viewer.principal.userId ? (
              <a class="button secondary" href={`/apps/${view.id}/disconnect`}>
                Disconnect
              </a>
            ) : null}
          </div>
        </section>
      </Layout>,
    );
  });

  web.get('/apps/:id/progress', async (c) => {
    const view = await getConnection(c.get('services'), { principal: c.get('viewer').principal, id: idParam(c.req.param('id')) });
    return sendFragment(c, <Progress view={view} />);
  });

  web.post('/apps/:id/authorize', async (c) => {
    const viewer = c.get('viewer');
    const result = await reauthorizeConnection(c.get('services'), { principal: viewer.principal, id: idParam(c.req.param('id')) });
    return c.redirect(result.authorizationUrl, 303);
  });

  web.get('/apps/:id/disconnect', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const view = await getConnection(services, { principal: viewer.principal, id: idParam(c.req.param('id')) });
    if (view.userId !== viewer.principal.userId) throw new PageError(404, 'not_found', 'There is no such connection of yours.');
    return sendPage(
      c,
      <Layout title={`Disconnect ${view.platformName}`} nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="apps">
        {view.status === 'revoked' ? (
          <Notice kind="info">This connection is already disconnected.</Notice>
        ) : (
          <form method="post" action={`/apps/${view.id}/disconnect`} class="card">
            <Csrf token={c.get('csrfToken')} />
            <p>
              Disconnecting <strong>{view.account ?? view.platformName}</strong> stops every transfer at once: when this page answers, nothing more leaves for{' '}
              {view.platformName}. Casebridge withdraws your consent, revokes its access at {view.platformName} and deletes the access it stored.
            </p>
            <fieldset>
              <legend>What already reached {view.platformName}</legend>
              <div class="choice">
                <input type="radio" id="keep-remote" name="remote" value="keep" checked />
                <label for="keep-remote">Leave it there. The {view.counts.synced} items stay in your account and no longer update.</label>
              </div>
              <div class="choice">
                <input type="radio" id="purge-remote" name="remote" value="purge" />
                <label for="purge-remote">Remove it from {view.platformName} too (what Casebridge created is deleted there).</label>
              </div>
            </fieldset>
            <p class="muted">The transfer log keeps the record of what was sent; you get a signed receipt of the disconnect.</p>
            <div class="actions">
              <button type="submit" class="danger" id="confirm-disconnect">
                Disconnect
              </button>
              <a class="button secondary" href={`/apps/${view.id}`}>
                Cancel
              </a>
            </div>
          </form>
        )}
      </Layout>,
    );
  });

  web.post('/apps/:id/disconnect', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const form = await c.req.parseBody();
    const remote = form.remote ?? 'keep';
    if (remote !== 'keep' && remote !== 'purge') throw new PageError(400, 'validation_failed', 'Choose whether to leave or remove what was shared.');
    try {
      const result = await disconnectOwnConnection(services, {
        principal: viewer.principal,
        connectionId: idParam(c.req.param('id')),
        purgeRemote: remote === 'purge',
        enqueue: (rid) => enqueueRevocation(services, rid),
      });
      return c.redirect(`/receipts/${result.revocationId}`, 303);
    } catch (err) {
      if (err instanceof RevocationError) throw new PageError(404, 'not_found', 'There is no such connection of yours.');
      throw err;
    }
  });

  web.get('/receipts/:id', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const row = await ownRevocation(c.get('services'), viewer.principal, c.req.param('id'));
    const live = !row.receipt;
    const key = getSigningKey(services.config);
    const envelope = receiptEnvelope(row);
    const verified = envelope ? await verifyReceipt(envelope, key.publicKeyPem) : false;
    return sendPage(
      c,
      <Layout title="Disconnect receipt" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="apps" scripts={['/assets/live.js']}>
        <Notice kind="ok">Disconnected at {row.effective_at.toISOString().replace('T', ' ').slice(0, 19)} UTC. From that instant nothing more was sent.</Notice>
        <section
          class="card"
          aria-labelledby="receipt-heading"
          data-live-url={live ? `/receipts/${row.id}/status` : undefined}
          data-live-done={live ? 'false' : 'true'}
        >
          <ReceiptStatus status={row.status} verified={verified} id={row.id} />
        </section>
      </Layout>,
    );
  });

  web.get('/receipts/:id/status', async (c) => {
    const row = await ownRevocation(c.get('services'), c.get('viewer').principal, c.req.param('id'));
    const key = getSigningKey(c.get('services').config);
    const envelope = receiptEnvelope(row);
    const verified = envelope ? await verifyReceipt(envelope, key.publicKeyPem) : false;
    return sendFragment(
      c,
      <section data-live-done={row.receipt ? 'true' : 'false'}>
        <ReceiptStatus status={row.status} verified={verified} id={row.id} />
      </section>,
    );
  });

  web.get('/receipts/:id/receipt.json', async (c) => {
    const row = await ownRevocation(c.get('services'), c.get('viewer').principal, c.req.param('id'));
    if (!row.receipt) throw new PageError(409, 'receipt_not_ready', 'The receipt is signed once the clean-up has finished. Try again in a moment.');
    c.header('content-disposition', `attachment; filename="casebridge-receipt-${row.id}.json"`);
    return c.json({
      payload: row.receipt,
      signature: { algorithm: 'Ed25519', keyId: row.receipt_key_id, value: row.receipt_signature },
      publicKey: getSigningKey(c.get('services').config).publicKeyPem,
    });
  });
}

/** A revocation the viewer may see: an administrator's organization's, or one covering only their own connections. */
async function ownRevocation(services: Services, principal: UserPrincipal, id: string) {
  if (!Uuid.safeParse(id).success) throw new PageError(404, 'not_found', 'There is no such receipt.');
  const row = await loadRevocation(services.db, id, principal.organizationId);
  if (!row) throw new PageError(404, 'not_found', 'There is no such receipt.');
  if (principal.role === 'admin') return row;
  const ids = row.connection_ids as string[];
  const own = ids.length
    ? await services.db.selectFrom('connections').select('id').where('id', 'in', ids).where('user_id', '=', principal.userId).execute()
    : [];
  const requestedBy = row.requested_by as { kind?: string; userId?: string };
  if (own.length !== ids.length || (ids.length === 0 && requestedBy.userId !== principal.userId)) {
    throw new PageError(404, 'not_found', 'There is no such receipt.');
  }
  return row;
}

function ReceiptStatus(props: { status: string; verified: boolean; id: string }) {
  if (props.status === 'in_progress') {
    return (
      <>
        <h2 id="receipt-heading">Clean-up in progress</h2>
        <p>
          Casebridge is revoking its access at the provider and deleting what it stored. The signed receipt appears here when that is done.{' '}
          <a href={`/receipts/${props.id}`}>Refresh</a>
        </p>
      </>
    );
  }
  return (
    <>
      <h2 id="receipt-heading">Signed receipt</h2>
      <p id="receipt-status">
        {props.status === 'completed' ? 'Completed.' : 'Completed with errors: some provider steps could not be done; details are in the receipt.'}{' '}
        {props.verified ? (
          <span class="status status-ok" id="receipt-verified">
            Signature verified
          </span>
        ) : (
          <span class="status status-bad">Signature does not verify</span>
        )}
      </p>
      <p>
        <a class="button secondary" href={`/receipts/${props.id}/receipt.json`} download>
          Download the receipt (JSON)
        </a>
      </p>
      <p class="muted">
        Check it yourself with <code>npx casebridge receipts verify FILE</code>; the public key is in the file.
      </p>
    </>
  );
}

function scopeWords(view: ConnectionView): string {
  return caseScopeWords(view.caseScope as CaseScope | null, 'All my cases');
}

/** The live status block: re-fetched by live.js while a sync runs; a reload shows the same. */
export function Progress(props: { view: ConnectionView; liveUrl?: string }) {
  const words = statusWords(props.view);
  const tone = words.tone === 'ok' ? 'status-ok' : words.tone === 'bad' ? 'status-bad' : words.tone === 'warn' ? 'status-warn' : '';
  return (
    <div
      id="progress"
      data-live-url={words.running ? (props.liveUrl ?? `/apps/${props.view.id}/progress`) : undefined}
      data-live-done={words.running ? 'false' : 'true'}
      aria-live="polite"
    >
      <p>
        <span class={`status ${tone}`} id="status-label">
          {words.label}
        </span>
      </p>
      {words.step ? (
        <progress max={words.step.total} value={words.step.done} aria-label="Sync progress">
          {words.step.done} of {words.step.total}
        </progress>
      ) : null}
      <p id="status-detail">{words.detail}</p>
      {props.view.lastError && props.view.status !== 'revoked' ? <p class="muted">Last problem: {props.view.lastError.message}</p> : null}
    </div>
  );
}
