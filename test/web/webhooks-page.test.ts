import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signingSecrets } from '../../src/webhooks/endpoints.ts';
import { emitWebhookEvent } from '../../src/webhooks/outbox.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The webhooks admin page over `app.request()`: administrators only (a member gets the 403 page and
 * nothing is written), the API's refusals as 4xx pages with their stable codes, the signing secret
 * shown once on create and on rotate (and the one that then signs), the delivery log with Replay (a
 * new delivery of the same event), delete, and another organization's endpoint answering 404.
 */
describe('webhooks admin page', () => {
  let t: TestServices;
  let org: SeededOrg;
  let rival: SeededOrg;
  let admin: Record<string, string>;
  let member: Record<string, string>;
  let rivalAdmin: Record<string, string>;
  let endpointId: string;

  const html = { accept: 'text/html' };
  const get = (h: Record<string, string>, path: string) => t.app.request(path, { headers: { cookie: h.cookie!, ...html } });
  const post = (h: Record<string, string>, path: string, body: Record<string, string | string[]> = {}) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    params.append('_csrf', h['x-csrf-token']!);
    return t.app.request(path, {
      method: 'POST',
      headers: { cookie: h.cookie!, 'content-type': 'application/x-www-form-urlencoded', ...html },
      body: params.toString(),
    });
  };
  const codeOf = async (res: Response) => /data-error-code="([a-z_]+)"/.exec(await res.text())?.[1];
  const secretOf = (page: string) => /id="webhook-secret"[^>]*value="([^"]+)"/.exec(page)?.[1];
  const endpoints = () => t.services.db.selectFrom('webhook_endpoints').selectAll().where('deleted_at', 'is', null).execute();

  beforeAll(async () => {
    t = await createTestServices({ SANDBOX_URL: 'http://127.0.0.1:9' });
    org = await seedOrg(t.services, 'Webhook Page Firm');
    rival = await seedOrg(t.services, 'Rival Webhook Firm');
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    rivalAdmin = await signInAs(t.services, { id: rival.admin.id, organizationId: rival.organizationId, role: 'admin' });
  });
  afterAll(async () => t?.cleanup());

  it('is for administrators: a member gets 403 admin_required, no nav entry, and nothing is written', async () => {
    const page = await get(member, '/admin/webhooks');
    expect(page.status).toBe(403);
    expect(await codeOf(page)).toBe('admin_required');
    const created = await post(member, '/admin/webhooks', { url: 'https://93.184.215.14/hook', which: 'all' });
    expect(created.status).toBe(403);
    expect(await endpoints()).toEqual([]);
    expect(await (await get(member, '/apps')).text()).not.toContain('href="/admin/webhooks"');
    expect(await (await get(admin, '/apps')).text()).toContain('href="/admin/webhooks"');
  });

  it.each([
    [{ url: 'http://93.184.215.14/hook', which: 'all' }, 'webhook_url_invalid'],
    [{ url: 'https://127.0.0.1/hook', which: 'all' }, 'webhook_url_private'],
    [{ url: 'https://93.184.215.14/hook', which: 'chosen' }, 'no_event_types'],
    [{ url: 'https://93.184.215.14/hook', which: 'chosen', events: 'no.such_event' }, 'unknown_event_type'],
    [{ url: '', which: 'all' }, 'validation_failed'],
  ])('refuses %j with a 400 page %s and writes nothing', async (body, code) => {
    const res = await post(admin, '/admin/webhooks', body);
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe(code);
    expect(await endpoints()).toEqual([]);
  });

  it('creates an endpoint and shows its signing secret once: the stored secret signs, the list never shows it', async () => {
    const res = await post(admin, '/admin/webhooks', {
      url: 'https://93.184.215.14/hook',
      description: 'case app',
      which: 'chosen',
      events: ['connection.revoked', 'sync.failed'],
    });
    expect(res.status).toBe(200);
    const secret = secretOf(await res.text())!;
    expect(secret).toMatch(/^whsec_/);
    const [row] = await endpoints();
    endpointId = row!.id;
    expect(row!.event_types).toEqual(['connection.revoked', 'sync.failed']);
    expect(signingSecrets(t.services.config, row!)).toEqual([secret]);
    const list = await (await get(admin, '/admin/webhooks')).text();
    expect(list).toContain(`data-endpoint-id="${endpointId}"`);
    expect(list).toContain('connection.revoked, sync.failed');
    expect(list).not.toContain(secret);
  });

  it('rotates the secret: the new one is shown once and signs first, the previous one beside it for the overlap', async () => {
    const before = signingSecrets(t.services.config, (await endpoints())[0]!);
    const res = await post(admin, `/admin/webhooks/${endpointId}/rotate`);
    expect(res.status).toBe(200);
    const page = await res.text();
    const secret = secretOf(page)!;
    expect(secret).not.toBe(before[0]);
    expect(page).toContain('The previous secret keeps signing beside it until');
    expect(signingSecrets(t.services.config, (await endpoints())[0]!)).toEqual([secret, before[0]]);
  });

  it('lists the delivery log and replays a delivery as a new delivery of the same event', async () => {
    const connectionId = randomUUID();
    const eventId = await emitWebhookEvent(t.services.db, {
      organizationId: org.organizationId,
      type: 'connection.revoked',
      data: { connectionId, userId: null, platform: 'google_calendar', status: 'revoked' },
    });
    const log = await (await get(admin, `/admin/webhooks/${endpointId}`)).text();
    const deliveryId = /data-delivery-id="([0-9a-f-]{36})"/.exec(log)![1]!;
    expect(log).toContain('connection.revoked');
    const replay = await post(admin, `/admin/webhooks/${endpointId}/deliveries/${deliveryId}/replay`);
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe(`/admin/webhooks/${endpointId}?replayed=1`);
    const rows = await t.services.db.selectFrom('webhook_deliveries').select(['id', 'event_id', 'replay_of']).where('endpoint_id', '=', endpointId).execute();
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.replay_of === deliveryId)?.event_id).toBe(eventId);
    const after = await (await get(admin, `/admin/webhooks/${endpointId}?replayed=1`)).text();
    expect(after).toContain('Replay queued');
    expect(after.match(/data-delivery-id=/g)).toHaveLength(2);
  });

  it('answers another organization’s administrator 404 on the endpoint, its log, replay, rotate and delete', async () => {
    for (const res of [
      await get(rivalAdmin, `/admin/webhooks/${endpointId}`),
      await post(rivalAdmin, `/admin/webhooks/${endpointId}/rotate`),
      await post(rivalAdmin, `/admin/webhooks/${endpointId}/delete`),
      await post(rivalAdmin, `/admin/webhooks/${endpointId}/deliveries/${randomUUID()}/replay`),
      await get(admin, '/admin/webhooks/not-a-uuid'),
    ]) {
      expect(res.status).toBe(404);
      expect(await codeOf(res)).toBe('not_found');
    }
    expect(await endpoints()).toHaveLength(1);
  });

  it('deletes the endpoint: gone from the list, its log answers 404', async () => {
    const res = await post(admin, `/admin/webhooks/${endpointId}/delete`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/webhooks?deleted=1');
    expect(await endpoints()).toEqual([]);
    expect(await (await get(admin, '/admin/webhooks?deleted=1')).text()).toContain('id="no-endpoints"');
    expect((await get(admin, `/admin/webhooks/${endpointId}`)).status).toBe(404);
  });
});
