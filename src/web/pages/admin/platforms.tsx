/** @jsxImportSource hono/jsx */
import { z } from 'zod';
import { connectors } from '../../../../connectors/registry.ts';
import { setPlatformEnabled } from '../../../revocation/platform-switch.ts';
import { enqueueRevocation } from '../../../revocation/queue.ts';
import type { WebApp } from '../../env.ts';
import { PageError } from '../../errors.ts';
import { Csrf, Notice } from '../../layout.tsx';
import { sendPage } from '../../render.ts';
import { AdminPage } from './common.tsx';

const SwitchForm = z.object({
  enabled: z.enum(['yes', 'no']),
  existingConnections: z.enum(['revoke', 'pause']).default('pause'),
  reason: z.string().trim().min(1).max(1000).default('platform disabled by an administrator'),
});

/**
 * `/admin/platforms`: every platform and whether the organization allows it; switching one off stops
 * new connections at once and pauses or revokes the existing ones (`setPlatformEnabled`, as
 * `PUT /v1/admin/platforms/{platform}`). A revocation leads to its receipt.
 */
export function registerPlatformPages(web: WebApp): void {
  web.get('/admin/platforms', async (c) => {
    const services = c.get('services');
    const orgId = c.get('viewer').principal.organizationId;
    const org = await services.db.selectFrom('organizations').select('settings').where('id', '=', orgId).executeTakeFirstOrThrow();
    const disabled = new Set(org.settings.disabledPlatforms ?? []);
    const live = await services.db
      .selectFrom('connections')
      .select(['platform', (eb) => eb.fn.countAll<string>().as('n')])
      .where('organization_id', '=', orgId)
      .where('status', '!=', 'revoked')
      .groupBy('platform')
      .execute();
    const count = new Map(live.map((r) => [r.platform, Number(r.n)]));
    const csrf = c.get('csrfToken');
    const done = c.req.query('switched');
    return sendPage(
      c,
      <AdminPage c={c} title="Platforms">
        {done ? <Notice kind="ok">Saved. {c.req.query('paused') ? `${c.req.query('paused')} connection(s) paused.` : ''}</Notice> : null}
        <p class="muted">A platform switched off takes no new connections from that moment; its existing connections are paused or revoked, as you choose.</p>
        {connectors.map((k) => {
          const id = k.manifest.id;
          const on = !disabled.has(id);
          return (
            <section class="card" aria-labelledby={`platform-${id}`} data-platform={id}>
              <h2 id={`platform-${id}`}>{k.manifest.displayName}</h2>
              <p>
                <span class={on ? 'status status-ok' : 'status status-warn'} data-platform-state={on ? 'on' : 'off'}>
                  {on ? 'Allowed' : 'Switched off'}
                </span>{' '}
                · {count.get(id) ?? 0} live connection{count.get(id) === 1 ? '' : 's'}
              </p>
              <form method="post" action={`/admin/platforms/${id}`}>
                <Csrf token={csrf} />
                <input type="hidden" name="enabled" value={on ? 'no' : 'yes'} />
                {on ? (
                  <fieldset>
                    <legend>Existing connections</legend>
                    <div class="choice">
                      <input type="radio" id={`${id}-pause`} name="existingConnections" value="pause" checked />
                      <label for={`${id}-pause`}>Pause them (users reconnect once it is back on)</label>
                    </div>
                    <div class="choice">
                      <input type="radio" id={`${id}-revoke`} name="existingConnections" value="revoke" />
                      <label for={`${id}-revoke`}>Revoke them, with a signed receipt</label>
                    </div>
                  </fieldset>
                ) : null}
                <button type="submit" class={on ? 'danger' : undefined} id={`switch-${id}`}>
                  {on ? 'Switch off' : 'Switch on'}
                  <span class="sr-only"> {k.manifest.displayName}</span>
                </button>
              </form>
            </section>
          );
        })}
      </AdminPage>,
    );
  });

  web.post('/admin/platforms/:platform', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const platform = c.req.param('platform');
    if (!connectors.some((k) => k.manifest.id === platform)) throw new PageError(404, 'unknown_platform', 'There is no such platform.');
    const form = await c.req.parseBody();
    const parsed = SwitchForm.safeParse({
      enabled: form.enabled,
      existingConnections: form.existingConnections || undefined,
      reason: form.reason || undefined,
    });
    if (!parsed.success) throw new PageError(400, 'validation_failed', 'Choose whether the platform is on or off, and what happens to its connections.');
    const result = await setPlatformEnabled(services, {
      organizationId: viewer.principal.organizationId,
      platform,
      enabled: parsed.data.enabled === 'yes',
      existingConnections: parsed.data.existingConnections,
      reason: parsed.data.reason,
      requestedBy: { kind: 'user', userId: viewer.principal.userId },
      enqueue: (rid) => enqueueRevocation(services, rid),
    });
    if (result.revocationId) return c.redirect(`/receipts/${result.revocationId}`, 303);
    return c.redirect(`/admin/platforms?switched=${platform}${result.connectionsPaused ? `&paused=${result.connectionsPaused}` : ''}`, 303);
  });
}
