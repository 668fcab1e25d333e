/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { createWebhookEndpoint, deleteWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints, rotateWebhookSecret } from '../../../webhooks/endpoints.ts';
import { WEBHOOK_EVENT_TYPES } from '../../../webhooks/events.ts';
import { listWebhookDeliveries, replayWebhookDelivery } from '../../../webhooks/outbox.ts';
import type { WebApp, WebEnv } from '../../env.ts';
import { PageError } from '../../errors.ts';
import { Csrf, Notice } from '../../layout.tsx';
import { sendPage } from '../../render.ts';
import { AdminPage, utc } from './common.tsx';

const UUID = z.uuid();
/** Deliveries per page of an endpoint's log. */
const LOG_PAGE = 50;
/** Endpoints an organization may have (the domain's limit) fit on one page. */
const ENDPOINT_PAGE = 20;

const CreateForm = z.object({
  url: z.string().trim().min(1).max(2048),
  description: z.string().trim().max(200),
  which: z.enum(['all', 'chosen']),
  events: z.array(z.string().max(64)).max(50),
});

function id(value: string, what: string): string {
  if (!UUID.safeParse(value).success) throw new PageError(404, 'not_found', `There is no such ${what} in your organization.`);
  return value;
}

function many(value: unknown): string[] {
  return value === undefined ? [] : (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
}

/**
 * `/admin/webhooks`: the organization's webhook endpoints — create (the signing secret shown once, in
 * the answer to the post), rotate the secret (shown once), delete — and `/admin/webhooks/{id}`, an
 * endpoint's delivery log with Replay. Administrators only; the same domain functions as
 * `/v1/admin/webhooks` (src/webhooks/).
 */
export function registerWebhookPages(web: WebApp): void {
  web.get('/admin/webhooks', async (c) => endpointsPage(c, null));

  web.post('/admin/webhooks', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const form = await c.req.parseBody({ all: true });
    const parsed = CreateForm.safeParse({
      url: form.url,
      description: typeof form.description === 'string' ? form.description : '',
      which: form.which ?? 'all',
      events: many(form.events),
    });
    if (!parsed.success) throw new PageError(400, 'validation_failed', 'Give the endpoint’s https URL (and at most 200 characters of description).');
    const { url, description, which, events } = parsed.data;
    if (which === 'chosen' && !events.length) throw new PageError(400, 'no_event_types', 'Tick at least one event type, or choose every event.');
    const organizationId = viewer.principal.organizationId;
    const created = await createWebhookEndpoint(services, {
      organizationId,
      createdBy: viewer.principal.userId,
      url,
      description: description || null,
      events: which === 'all' ? null : events,
    });
    services.logger.info({ organizationId, webhookEndpointId: created.endpoint.id }, 'webhook endpoint created');
    return endpointsPage(c, { url: created.endpoint.url, secret: created.secret, rotated: false });
  });

  web.post('/admin/webhooks/:id/rotate', async (c) => {
    const services = c.get('services');
    const organizationId = c.get('viewer').principal.organizationId;
    const endpointId = id(c.req.param('id'), 'webhook endpoint');
    const rotated = await rotateWebhookSecret(services, { organizationId, id: endpointId });
    services.logger.info({ organizationId, webhookEndpointId: endpointId }, 'webhook secret rotated');
    return endpointsPage(c, { url: rotated.endpoint.url, secret: rotated.secret, rotated: true, until: rotated.endpoint.previousSecretExpiresAt });
  });

  web.post('/admin/webhooks/:id/delete', async (c) => {
    const services = c.get('services');
    const organizationId = c.get('viewer').principal.organizationId;
    const endpointId = id(c.req.param('id'), 'webhook endpoint');
    await deleteWebhookEndpoint(services.db, { organizationId, id: endpointId });
    services.logger.info({ organizationId, webhookEndpointId: endpointId }, 'webhook endpoint deleted');
    return c.redirect('/admin/webhooks?deleted=1', 303);
  });

  web.get('/admin/webhooks/:id', async (c) => {
    const services = c.get('services');
    const organizationId = c.get('viewer').principal.organizationId;
    const endpointId = id(c.req.param('id'), 'webhook endpoint');
    const endpoint = await getWebhookEndpoint(services.db, { organizationId, id: endpointId });
    const cursor = c.req.query('cursor') || undefined;
    const log = await listWebhookDeliveries(services.db, { organizationId, endpointId, limit: LOG_PAGE, cursor });
    const csrf = c.get('csrfToken');
    return sendPage(
      c,
      <AdminPage c={c} title="Webhook deliveries" current="webhooks">
        <p>
          <a href="/admin/webhooks">All webhook endpoints</a>
        </p>
        {c.req.query('replayed') === '1' ? <Notice kind="ok">Replay queued: the same event (same event id) is sent again.</Notice> : null}
        <p>
          Endpoint <strong class="mono">{endpoint.url}</strong>
          {endpoint.description ? ` · ${endpoint.description}` : ''}
        </p>
        {log.items.length === 0 ? (
          <p id="no-deliveries">No deliveries yet.</p>
        ) : (
          <section class="table-wrap" tabindex={0} aria-label="Deliveries (scrolls sideways)">
            <table id="deliveries">
              <thead>
                <tr>
                  <th scope="col">Created (UTC)</th>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Last answer</th>
                  <th scope="col">Replay</th>
                </tr>
              </thead>
              <tbody>
                {log.items.map((d) => (
                  <tr data-delivery-id={d.id} data-status={d.status}>
                    <td>{utc(d.createdAt)}</td>
                    <td>
                      <span class="mono">{d.eventType}</span>
                      {d.replayOf ? <span class="muted"> (replay)</span> : null}
                    </td>
                    <td>
                      {d.status}
                      {d.nextAttemptAt ? <span class="muted"> · next try {utc(d.nextAttemptAt)}</span> : null}
                    </td>
                    <td>{d.attemptCount}</td>
                    <td>{d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : (d.lastError ?? '—')}</td>
                    <td>
                      <form method="post" action={`/admin/webhooks/${endpoint.id}/deliveries/${d.id}/replay`} class="inline">
                        <Csrf token={csrf} />
                        <button type="submit" class="secondary">
                          Replay
                          <span class="sr-only">
                            {' '}
                            {d.eventType} of {utc(d.createdAt)}
                          </span>
                        </button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
        {log.nextCursor ? (
          <p>
            <a href={`/admin/webhooks/${endpoint.id}?cursor=${encodeURIComponent(log.nextCursor)}`}>Older deliveries</a>
          </p>
        ) : null}
      </AdminPage>,
    );
  });

  web.post('/admin/webhooks/:id/deliveries/:deliveryId/replay', async (c) => {
    const services = c.get('services');
    const organizationId = c.get('viewer').principal.organizationId;
    const endpointId = id(c.req.param('id'), 'webhook endpoint');
    const deliveryId = id(c.req.param('deliveryId'), 'webhook delivery');
    const delivery = await replayWebhookDelivery(services.db, { organizationId, endpointId, deliveryId });
    // Straight onto the queue; the dispatcher would pick it up within a second anyway.
    await services.queues
      .enqueueWebhookDeliveries([delivery.id])
      .catch((e: unknown) => services.logger.warn({ err: e, deliveryId: delivery.id }, 'replay not queued yet; the dispatcher will'));
    return c.redirect(`/admin/webhooks/${endpointId}?replayed=1`, 303);
  });
}

async function endpointsPage(c: Context<WebEnv>, shown: { url: string; secret: string; rotated: boolean; until?: string | null } | null) {
  const services = c.get('services');
  const organizationId = c.get('viewer').principal.organizationId;
  const { items } = await listWebhookEndpoints(services.db, { organizationId, limit: ENDPOINT_PAGE });
  const csrf = c.get('csrfToken');
  return sendPage(
    c,
    <AdminPage c={c} title="Webhooks" current="webhooks">
      {shown ? (
        <section class="notice notice-ok" aria-labelledby="secret-heading">
          <h2 id="secret-heading">{shown.rotated ? 'New signing secret' : 'Endpoint created'}</h2>
          <p>
            The signing secret of <span class="mono">{shown.url}</span>. Copy it now: it is shown only this once.
            {shown.until ? ` The previous secret keeps signing beside it until ${utc(shown.until)} UTC.` : ''}
          </p>
          <p class="secret">
            <label for="webhook-secret">Signing secret</label>
            <input type="text" id="webhook-secret" readonly value={shown.secret} class="mono" />
          </p>
        </section>
      ) : null}
      {c.req.query('deleted') === '1' ? <Notice kind="ok">Endpoint deleted: its secret is destroyed and nothing more is sent to it.</Notice> : null}
      <p class="muted">
        Casebridge POSTs signed events (connection status changes, sync failures, finished revocations) to these addresses. Each delivery is retried with
        backoff and listed in the endpoint’s delivery log.
      </p>
      <section aria-labelledby="endpoints-heading">
        <h2 id="endpoints-heading">Endpoints</h2>
        {items.length === 0 ? (
          <p id="no-endpoints">No endpoints yet.</p>
        ) : (
          <ul class="plain" id="endpoints">
            {items.map((e) => (
              <li class="card" data-endpoint-id={e.id}>
                <p>
                  <strong class="mono">{e.url}</strong>
                  {e.description ? <span class="muted"> · {e.description}</span> : null}
                </p>
                <p class="fields">
                  Events: {e.events ? e.events.join(', ') : 'every event'} · created {utc(e.createdAt)} UTC
                  {e.previousSecretExpiresAt ? ` · previous secret valid until ${utc(e.previousSecretExpiresAt)} UTC` : ''}
                </p>
                <div class="actions">
                  <a class="button secondary" href={`/admin/webhooks/${e.id}`}>
                    Delivery log<span class="sr-only"> of {e.url}</span>
                  </a>
                  <form method="post" action={`/admin/webhooks/${e.id}/rotate`} class="inline">
                    <Csrf token={csrf} />
                    <button type="submit" class="secondary">
                      New secret<span class="sr-only"> for {e.url}</span>
                    </button>
                  </form>
                  <form method="post" action={`/admin/webhooks/${e.id}/delete`} class="inline">
                    <Csrf token={csrf} />
                    <button type="submit" class="danger">
                      Delete<span class="sr-only"> {e.url}</span>
                    </button>
                  </form>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
      <form method="post" action="/admin/webhooks" class="card" id="new-endpoint">
        <h2>New endpoint</h2>
        <Csrf token={csrf} />
        <p>
          <label for="webhook-url">URL (https)</label>
          <br />
          <input type="url" id="webhook-url" name="url" required maxlength={2048} placeholder="https://app.example.com/hooks/casebridge" />
        </p>
        <p>
          <label for="webhook-description">Description (optional)</label>
          <br />
          <input type="text" id="webhook-description" name="description" maxlength={200} />
        </p>
        <fieldset>
          <legend>Events</legend>
          <div class="choice">
            <input type="radio" id="events-all" name="which" value="all" checked />
            <label for="events-all">Every event, including types added later</label>
          </div>
          <div class="choice">
            <input type="radio" id="events-chosen" name="which" value="chosen" />
            <label for="events-chosen">Only these:</label>
          </div>
          {WEBHOOK_EVENT_TYPES.map((t) => (
            <div class="choice">
              <input type="checkbox" id={`event-${t}`} name="events" value={t} />
              <label for={`event-${t}`} class="mono">
                {t}
              </label>
            </div>
          ))}
        </fieldset>
        <button type="submit" id="create-endpoint">
          Create endpoint
        </button>
      </form>
    </AdminPage>,
  );
}
