import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhookWorker } from '../../queues/webhook-worker.ts';
import { transitionConnections } from '../../src/connections/state-machine.ts';
import { isPrivateAddress } from '../../src/security/private-addresses.ts';
import { recordSyncFailed, recordSyncSucceeded } from '../../src/webhooks/connection-events.ts';
import { createWebhookEndpoint, deleteWebhookEndpoint, resealWebhookSecrets, rotateWebhookSecret, signingSecrets } from '../../src/webhooks/endpoints.ts';
import { WEBHOOK_EVENT_SCHEMAS } from '../../src/webhooks/events.ts';
import { emitInvitationEvent } from '../../src/webhooks/invitation-events.ts';
import { emitWebhookEvent, pruneWebhookLog } from '../../src/webhooks/outbox.ts';
import { checkWebhookUrl, postWebhook } from '../../src/webhooks/sender.ts';
import { sign, verifySignature } from '../../src/webhooks/signature.ts';
import { insertConnection } from '../privacy/helpers.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { type Received, Receiver, waitFor } from './receiver.ts';

/**
 * Webhooks end to end: the admin API, the outbox written with the change, the webhooks worker on a
 * real BullMQ queue, and a local HTTP receiver that checks signatures, goes down, answers 500.
 * Backoff is shortened by configuration (100 ms doubling to 400 ms).
 */

let t: TestServices;
let worker: { close(): Promise<void> };

beforeAll(async () => {
  t = await createTestServices({
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    WEBHOOK_RETRY_BASE_MS: '100',
    WEBHOOK_RETRY_MAX_DELAY_MS: '400',
    WEBHOOK_DISPATCH_INTERVAL_MS: '100',
    WEBHOOK_TIMEOUT_MS: '2000',
  });
  worker = await startWebhookWorker(t.services);
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await t?.cleanup();
});

interface Setup {
  org: SeededOrg;
  headers: Record<string, string>;
  receiver: Receiver;
  endpointId: string;
  secret: string;
}

async function setup(name: string, body: Record<string, unknown> = {}): Promise<Setup> {
  const org = await seedOrg(t.services, name);
  const headers = {
    ...(await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' })),
    'content-type': 'application/json',
  };
  const receiver = new Receiver();
  await receiver.start();
  const res = await t.app.request('/v1/admin/webhooks', { method: 'POST', headers, body: JSON.stringify({ url: receiver.url, ...body }) });
  expect(res.status).toBe(201);
  const created = (await res.json()) as { endpoint: { id: string }; secret: string };
  return { org, headers, receiver, endpointId: created.endpoint.id, secret: created.secret };
}

function verify(r: Received, secret: string): boolean {
  return verifySignature({ secret, header: r.headers['casebridge-webhook-signature']!, timestamp: r.headers['casebridge-webhook-timestamp']!, body: r.body });
}

async function deliveries(s: Setup, query = '') {
  const res = await t.app.request(`/v1/admin/webhooks/${s.endpointId}/deliveries${query}`, { headers: s.headers });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    items: Array<{
      id: string;
      eventId: string;
      eventType: string;
      status: string;
      attemptCount: number;
      lastStatusCode: number | null;
      lastError: string | null;
    }>;
    nextCursor: string | null;
  };
}

describe('webhook endpoints (admin API)', () => {
  it('creates an endpoint and shows its secret once; lists and reads never show it; the stored secret is encrypted', async () => {
    const s = await setup('Endpoints');
    expect(s.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const list = await t.app.request('/v1/admin/webhooks', { headers: s.headers });
    const listed = (await list.json()) as { items: Array<Record<string, unknown>>; nextCursor: string | null };
    expect(listed.nextCursor).toBeNull();
    expect(listed.items.map((i) => i.id)).toEqual([s.endpointId]);
    expect(JSON.stringify(listed)).not.toContain(s.secret);
    const one = await t.app.request(`/v1/admin/webhooks/${s.endpointId}`, { headers: s.headers });
    expect(JSON.stringify(await one.json())).not.toContain('whsec_');
    const row = await t.services.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', s.endpointId).executeTakeFirstOrThrow();
    expect(row.secret_ciphertext).toBeTruthy();
    expect(JSON.stringify(row)).not.toContain(s.secret.slice(6));
    await s.receiver.stop();
  });

  it('pages endpoints and deliveries with the cursors it returns, each once', async () => {
    const s = await setup('Paging');
    for (let i = 0; i < 2; i++) {
      await t.app.request('/v1/admin/webhooks', { method: 'POST', headers: s.headers, body: JSON.stringify({ url: `${s.receiver.url}/${i}` }) });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.app.request(`/v1/admin/webhooks?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { headers: s.headers });
      const body = (await res.json()) as { items: Array<{ id: string }>; nextCursor: string | null };
      seen.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(3);
    for (let i = 0; i < 3; i++) {
      await emitWebhookEvent(t.services.db, {
        organizationId: s.org.organizationId,
        type: 'sync.recovered',
        data: { connectionId: crypto.randomUUID(), platform: 'p' },
      });
    }
    const first = await deliveries(s, '?limit=2');
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = await deliveries(s, `?limit=2&cursor=${first.nextCursor}`);
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.items, ...second.items].map((d) => d.id)).size).toBe(3);
    await s.receiver.stop();
  });

  it('answers 400 with a stable code for a bad URL or an unknown event type, and 404 for another organization', async () => {
    const s = await setup('Bad input');
    const post = (body: unknown) => t.app.request('/v1/admin/webhooks', { method: 'POST', headers: s.headers, body: JSON.stringify(body) });
    const bad = await post({ url: 'ftp://example.com/x' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('webhook_url_invalid');
    const creds = await post({ url: 'https://user:pw@example.com/x' });
    expect(((await creds.json()) as { error: { code: string } }).error.code).toBe('webhook_url_invalid');
    const unknown = await post({ url: s.receiver.url, events: ['connection.exploded'] });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_event_type');
    const other = await seedOrg(t.services, 'Other firm');
    const otherHeaders = await signInAs(t.services, { id: other.admin.id, organizationId: other.organizationId, role: 'admin' });
    expect((await t.app.request(`/v1/admin/webhooks/${s.endpointId}`, { headers: otherHeaders })).status).toBe(404);
    expect((await t.app.request(`/v1/admin/webhooks/${s.endpointId}/deliveries`, { headers: otherHeaders })).status).toBe(404);
    const member = await signInAs(t.services, { id: s.org.member.id, organizationId: s.org.organizationId, role: 'member' });
    expect((await t.app.request('/v1/admin/webhooks', { headers: member })).status).toBe(403);
    for (let i = 1; i < 20; i++) {
      expect((await post({ url: `${s.receiver.url}/${i}` })).status).toBe(201);
    }
    const over = await post({ url: `${s.receiver.url}/21` });
    expect(over.status).toBe(409);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('webhook_endpoint_limit');
    const cursor = await t.app.request('/v1/admin/webhooks?cursor=bm9wZQ', { headers: s.headers });
    expect(cursor.status).toBe(400);
    expect(await t.services.db.selectFrom('webhook_endpoints').select('id').where('organization_id', '=', s.org.organizationId).execute()).toHaveLength(20);
    await s.receiver.stop();
  });

  it('keys rotate re-seals the current and previous secret under the newest key; both still sign', async () => {
    const org = await seedOrg(t.services, 'Key rotation');
    const k1 = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
    const k2 = `k2:${Buffer.alloc(32, 2).toString('base64')}`;
    const old = { db: t.services.db, config: { ...t.config, TOKEN_ENCRYPTION_KEYS: k1 } };
    const created = await createWebhookEndpoint(old, { organizationId: org.organizationId, createdBy: null, url: 'http://127.0.0.1:9/hooks' });
    const rotated = await rotateWebhookSecret(old, { organizationId: org.organizationId, id: created.endpoint.id, overlapHours: 1 });
    const both = { db: t.services.db, config: { ...t.config, TOKEN_ENCRYPTION_KEYS: `${k2},${k1}` } };
    const result = await resealWebhookSecrets(both);
    // Endpoints of the other tests were sealed under the test key, which this keyring does not list: reported, not lost.
    expect(result.failed.map((f) => f.endpointId)).not.toContain(created.endpoint.id);
    expect(result.failed.every((f) => f.code === 'unknown_key')).toBe(true);
    expect(result.resealed).toBe(1);
    const row = await t.services.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', created.endpoint.id).executeTakeFirstOrThrow();
    expect([row.secret_key_id, row.previous_secret_key_id]).toEqual(['k2', 'k2']);
    expect(signingSecrets({ ...t.config, TOKEN_ENCRYPTION_KEYS: k2 }, row)).toEqual([rotated.secret, created.secret]);
    await deleteWebhookEndpoint(t.services.db, { organizationId: org.organizationId, id: created.endpoint.id });
  });

  it('refuses loopback, private and reserved targets unless configured (SSRF)', async () => {
    for (const url of [
      'https://127.0.0.1/x',
      'https://10.1.2.3/x',
      'https://169.254.169.254/latest',
      'https://[::1]/x',
      'https://localhost/x',
      'https://[::ffff:192.168.0.1]/',
    ]) {
      expect((await checkWebhookUrl(url, { allowPrivate: false }))?.code, url).toBe('webhook_url_private');
    }
    expect((await checkWebhookUrl('http://93.184.215.14/x', { allowPrivate: false }))?.code).toBe('webhook_url_invalid');
    expect(await checkWebhookUrl('https://93.184.215.14/x', { allowPrivate: false })).toBeNull();
    expect(await checkWebhookUrl('http://127.0.0.1:9/x', { allowPrivate: true })).toBeNull();
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    // At delivery time too: a name resolving to loopback (DNS rebinding) and an address literal are refused before any byte is sent.
    const receiver = new Receiver();
    await receiver.start();
    for (const url of [`http://localhost:${receiver.port}/hooks`, receiver.url]) {
      const sent = await postWebhook({ url, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate: false });
      expect(sent, url).toMatchObject({ ok: false, status: null, error: 'refused: the host resolves to a private address' });
    }
    expect(receiver.received).toHaveLength(0);
    expect(await postWebhook({ url: receiver.url, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate: true })).toMatchObject({ ok: true, status: 200 });
    await receiver.stop();
    const org = await seedOrg(t.services, 'SSRF');
    await expect(
      createWebhookEndpoint(
        { db: t.services.db, config: { ...t.config, WEBHOOK_ALLOW_PRIVATE_ADDRESSES: false } },
        { organizationId: org.organizationId, createdBy: null, url: 'https://127.0.0.1:8443/hooks' },
      ),
    ).rejects.toMatchObject({ code: 'webhook_url_private' });
  });
});

describe('webhook deliveries', () => {
  it('announces a connection status change, signed over timestamp and body, with ids and status only', async () => {
    const s = await setup('Signed');
    const connectionId = await insertConnection(t.services, { organizationId: s.org.organizationId, userId: s.org.member.id, status: 'pending' });
    await transitionConnections(t.services, { ids: [connectionId], to: 'active' });
    const [r] = await waitFor(() => (s.receiver.ofType('connection.active').length ? s.receiver.ofType('connection.active') : null), 10_000, 'delivery');
    expect(verify(r!, s.secret)).toBe(true);
    expect(verify(r!, `${s.secret}x`)).toBe(false);
    // The exact signed string: `<timestamp>.<body>`.
    expect(r!.headers['casebridge-webhook-signature']).toBe(`v1=${sign(s.secret, Number(r!.headers['casebridge-webhook-timestamp']), r!.body)}`);
    // A replayed old request is refused by the receiver's timestamp check.
    expect(
      verifySignature({
        secret: s.secret,
        header: r!.headers['casebridge-webhook-signature']!,
        timestamp: r!.headers['casebridge-webhook-timestamp']!,
        body: r!.body,
        now: Date.now() + 3600_000,
      }),
    ).toBe(false);
    const body = JSON.parse(r!.body) as { id: string; type: string; organizationId: string; data: Record<string, unknown> };
    expect(body.id).toBe(r!.headers['casebridge-webhook-id']);
    expect(body).toMatchObject({ type: 'connection.active', organizationId: s.org.organizationId });
    expect(body.data).toEqual({ connectionId, userId: s.org.member.id, platform: 'test_platform', status: 'active' });
    // The receiver has the request before the worker records its answer: wait for the record.
    const log = await waitFor(
      async () => {
        const l = await deliveries(s);
        return l.items.every((d) => d.status !== 'pending') ? l : null;
      },
      5000,
      'the delivery recorded',
    );
    expect(log.items).toEqual([
      expect.objectContaining({ eventId: body.id, eventType: 'connection.active', status: 'delivered', attemptCount: 1, lastStatusCode: 200 }),
    ]);
    await s.receiver.stop();
  });

  it('a refused transition writes no event, and a status change and its event commit together', async () => {
    const s = await setup('Atomic');
    const connectionId = await insertConnection(t.services, { organizationId: s.org.organizationId, userId: s.org.member.id, status: 'revoked' });
    expect(await transitionConnections(t.services, { ids: [connectionId], to: 'active' })).toEqual([]);
    const live = await insertConnection(t.services, { organizationId: s.org.organizationId, userId: s.org.member.id, status: 'active' });
    await expect(
      t.services.db.transaction().execute(async (tx) => {
        const { applyTransition } = await import('../../src/connections/state-machine.ts');
        await applyTransition(tx, { ids: [live], to: 'reauth_required' });
        throw new Error('crash before commit');
      }),
    ).rejects.toThrow('crash before commit');
    const events = await t.services.db.selectFrom('webhook_events').select('type').where('organization_id', '=', s.org.organizationId).execute();
    expect(events).toEqual([]);
    await s.receiver.stop();
  });

  it('keeps retrying while the receiver is down and delivers once it is back', async () => {
    const s = await setup('Down');
    await s.receiver.stop();
    const connectionId = await insertConnection(t.services, { organizationId: s.org.organizationId, userId: s.org.member.id, status: 'active' });
    await transitionConnections(t.services, {
      ids: [connectionId],
      to: 'reauth_required',
      lastError: { code: 'invalid_grant', message: 'x', at: new Date().toISOString() },
    });
    await waitFor(async () => (await deliveries(s)).items.find((d) => d.attemptCount >= 3), 10_000, 'three failed attempts');
    const failing = (await deliveries(s)).items[0]!;
    expect(failing).toMatchObject({ status: 'pending', lastStatusCode: null });
    expect(failing.lastError).toMatch(/connection failed/);
    await s.receiver.start();
    const [r] = await waitFor(
      () => (s.receiver.ofType('connection.reauth_required').length ? s.receiver.ofType('connection.reauth_required') : null),
      10_000,
      'delivery after restart',
    );
    expect(verify(r!, s.secret)).toBe(true);
    expect(JSON.parse(r!.body).data).toMatchObject({ connectionId, status: 'reauth_required', code: 'invalid_grant' });
    const done = await waitFor(async () => (await deliveries(s)).items.find((d) => d.status === 'delivered'), 5000, 'delivered');
    expect(done.attemptCount).toBeGreaterThanOrEqual(4);
    await s.receiver.stop();
  });

  it('an event recorded while no worker runs waits in the outbox and is delivered when one starts', async () => {
    const s = await setup('Outbox');
    await worker.close();
    try {
      const connectionId = await insertConnection(t.services, { organizationId: s.org.organizationId, userId: s.org.member.id, status: 'active' });
      await transitionConnections(t.services, { ids: [connectionId], to: 'revoked' });
      await new Promise((r) => setTimeout(r, 400));
      expect(s.receiver.received).toHaveLength(0);
      expect((await deliveries(s)).items).toEqual([expect.objectContaining({ eventType: 'connection.revoked', status: 'pending', attemptCount: 0 })]);
    } finally {
      worker = await startWebhookWorker(t.services);
    }
    const [r] = await waitFor(() => (s.receiver.received.length ? s.receiver.received : null), 10_000, 'delivery after the worker started');
    expect(verify(r!, s.secret)).toBe(true);
    expect(JSON.parse(r!.body).type).toBe('connection.revoked');
    await s.receiver.stop();
  });

  it('retries a receiver that answers 500, with the same event id on every attempt', async () => {
    const s = await setup('Five hundred');
    let calls = 0;
    s.receiver.answer = () => (++calls <= 2 ? 500 : 204);
    await emitInvitationEvent(t.services.db, {
      organizationId: s.org.organizationId,
      kind: 'sent',
      invitationId: crypto.randomUUID(),
      userId: s.org.member.id,
    });
    const got = await waitFor(() => (s.receiver.received.length >= 3 ? s.receiver.received : null), 10_000, 'three attempts');
    const ids = new Set(got.map((r) => r.headers['casebridge-webhook-id']));
    expect(ids.size).toBe(1);
    expect(new Set(got.map((r) => r.headers['casebridge-webhook-delivery'])).size).toBe(1);
    const d = await waitFor(async () => (await deliveries(s)).items.find((x) => x.status === 'delivered'), 5000, 'delivered');
    expect(d).toMatchObject({ attemptCount: 3, lastStatusCode: 204, lastError: null });
    await new Promise((r) => setTimeout(r, 500));
    expect(s.receiver.received).toHaveLength(3);
    await s.receiver.stop();
  });

  it('replays a delivery: a new delivery of the same event id', async () => {
    const s = await setup('Replay');
    await emitInvitationEvent(t.services.db, { organizationId: s.org.organizationId, kind: 'accepted', invitationId: crypto.randomUUID() });
    const [first] = await waitFor(() => (s.receiver.received.length ? s.receiver.received : null), 10_000, 'first delivery');
    const original = (await waitFor(async () => (await deliveries(s)).items.find((x) => x.status === 'delivered'), 5000, 'delivered'))!;
    const res = await t.app.request(`/v1/admin/webhooks/${s.endpointId}/deliveries/${original.id}/replay`, { method: 'POST', headers: s.headers });
    expect(res.status).toBe(202);
    const replay = (await res.json()) as { id: string; eventId: string; replayOf: string };
    expect(replay).toMatchObject({ eventId: original.eventId, replayOf: original.id });
    const got = await waitFor(() => (s.receiver.received.length >= 2 ? s.receiver.received : null), 10_000, 'replayed delivery');
    expect(got[1]!.headers['casebridge-webhook-id']).toBe(first!.headers['casebridge-webhook-id']);
    expect(got[1]!.headers['casebridge-webhook-delivery']).toBe(replay.id);
    expect(got[1]!.body).toBe(first!.body);
    expect(verify(got[1]!, s.secret)).toBe(true);
    const missing = await t.app.request(`/v1/admin/webhooks/${s.endpointId}/deliveries/${crypto.randomUUID()}/replay`, { method: 'POST', headers: s.headers });
    expect(missing.status).toBe(404);
    await s.receiver.stop();
  });

  it('after a rotation both secrets sign for the overlap window, then only the new one', async () => {
    const s = await setup('Rotation');
    const rot = await t.app.request(`/v1/admin/webhooks/${s.endpointId}/rotate-secret`, {
      method: 'POST',
      headers: s.headers,
      body: JSON.stringify({ overlapHours: 1 }),
    });
    expect(rot.status).toBe(200);
    const rotated = (await rot.json()) as { secret: string; endpoint: { previousSecretExpiresAt: string | null } };
    expect(rotated.secret).not.toBe(s.secret);
    expect(rotated.endpoint.previousSecretExpiresAt).not.toBeNull();
    await emitWebhookEvent(t.services.db, {
      organizationId: s.org.organizationId,
      type: 'sync.recovered',
      data: { connectionId: crypto.randomUUID(), platform: 'test_platform' },
    });
    const [r] = await waitFor(() => (s.receiver.received.length ? s.receiver.received : null), 10_000, 'delivery');
    expect(r!.headers['casebridge-webhook-signature']!.split(',')).toHaveLength(2);
    expect(verify(r!, rotated.secret)).toBe(true);
    expect(verify(r!, s.secret)).toBe(true);

    const again = await t.app.request(`/v1/admin/webhooks/${s.endpointId}/rotate-secret`, {
      method: 'POST',
      headers: s.headers,
      body: JSON.stringify({ overlapHours: 0 }),
    });
    const third = ((await again.json()) as { secret: string }).secret;
    await emitWebhookEvent(t.services.db, {
      organizationId: s.org.organizationId,
      type: 'sync.recovered',
      data: { connectionId: crypto.randomUUID(), platform: 'test_platform' },
    });
    const got = await waitFor(() => (s.receiver.received.length >= 2 ? s.receiver.received : null), 10_000, 'second delivery');
    expect(got[1]!.headers['casebridge-webhook-signature']!.split(',')).toHaveLength(1);
    expect(verify(got[1]!, third)).toBe(true);
    expect(verify(got[1]!, rotated.secret)).toBe(false);
    // Without a body: the configured overlap (WEBHOOK_SECRET_OVERLAP_HOURS, 24 h).
    const { 'content-type': _ct, ...noBody } = s.headers;
    const plain = await t.app.request(`/v1/admin/webhooks/${s.endpointId}/rotate-secret`, { method: 'POST', headers: noBody });
    expect(plain.status).toBe(200);
    const expires = Date.parse(((await plain.json()) as { endpoint: { previousSecretExpiresAt: string } }).endpoint.previousSecretExpiresAt);
    expect(Math.abs(expires - Date.now() - 24 * 3600_000)).toBeLessThan(60_000);
    await s.receiver.stop();
  });

  it('delivers only subscribed event types; a deleted endpoint gets nothing more', async () => {
    const s = await setup('Filtered', { events: ['sync.failed'] });
    const connectionId = await insertConnection(t.services, { organizationId: s.org.organizationId, userId: s.org.member.id, status: 'active' });
    await transitionConnections(t.services, { ids: [connectionId], to: 'paused' });
    expect(await recordSyncFailed(t.services.db, { connectionId, code: 'provider_refused' })).toBe(true);
    await waitFor(() => s.receiver.ofType('sync.failed').length === 1, 10_000, 'sync.failed');
    expect(s.receiver.received.map((r) => r.headers['casebridge-webhook-event'])).toEqual(['sync.failed']);
    expect((await t.app.request(`/v1/admin/webhooks/${s.endpointId}`, { method: 'DELETE', headers: s.headers })).status).toBe(204);
    expect((await t.app.request(`/v1/admin/webhooks/${s.endpointId}`, { headers: s.headers })).status).toBe(404);
    await emitWebhookEvent(t.services.db, { organizationId: s.org.organizationId, type: 'sync.failed', data: { connectionId, platform: 'x', code: 'y' } });
    await new Promise((r) => setTimeout(r, 600));
    expect(s.receiver.received).toHaveLength(1);
    const row = await t.services.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', s.endpointId).executeTakeFirstOrThrow();
    expect(row.secret_ciphertext).toBeNull();
    await s.receiver.stop();
  });
});

describe('webhook events', () => {
  it('sync.failed once per failure episode, sync.recovered once after it', async () => {
    const org = await seedOrg(t.services, 'Sync health');
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    expect(await recordSyncSucceeded(t.services.db, connectionId)).toBe(false);
    expect(await recordSyncFailed(t.services.db, { connectionId, code: 'provider_refused' })).toBe(true);
    expect(await recordSyncFailed(t.services.db, { connectionId, code: 'sync_retries_exhausted' })).toBe(false);
    expect(await recordSyncSucceeded(t.services.db, connectionId)).toBe(true);
    expect(await recordSyncSucceeded(t.services.db, connectionId)).toBe(false);
    const events = await t.services.db
      .selectFrom('webhook_events')
      .select(['type', 'data'])
      .where('organization_id', '=', org.organizationId)
      .orderBy('created_at')
      .execute();
    expect(events.map((e) => e.type)).toEqual(['sync.failed', 'sync.recovered']);
    expect(events[0]!.data).toEqual({ connectionId, platform: 'test_platform', code: 'provider_refused' });
  });

  it('a transition of many connections writes one event per connection and one delivery per endpoint, in one go', async () => {
    const s = await setup('Many');
    const ids = await Promise.all(
      Array.from({ length: 200 }, () => insertConnection(t.services, { organizationId: s.org.organizationId, userId: s.org.member.id, status: 'active' })),
    );
    const started = performance.now();
    expect(await transitionConnections(t.services, { ids, to: 'revoked' })).toHaveLength(200);
    const ms = performance.now() - started;
    const events = await t.services.db.selectFrom('webhook_events').select(['id', 'data']).where('organization_id', '=', s.org.organizationId).execute();
    expect(new Set(events.map((e) => e.data.connectionId))).toEqual(new Set(ids));
    const rows = await t.services.db.selectFrom('webhook_deliveries').select('event_id').where('endpoint_id', '=', s.endpointId).execute();
    expect(rows).toHaveLength(200);
    expect(ms).toBeLessThan(10_000);
    await s.receiver.stop();
    await t.app.request(`/v1/admin/webhooks/${s.endpointId}`, { method: 'DELETE', headers: s.headers });
  });

  it('payload schemas admit ids, statuses and codes only: an extra field is refused', async () => {
    const org = await seedOrg(t.services, 'Strict');
    await expect(
      emitWebhookEvent(t.services.db, {
        organizationId: org.organizationId,
        type: 'sync.recovered',
        data: { connectionId: crypto.randomUUID(), platform: 'p', caseTitle: 'Smith v. Jones' } as never,
      }),
    ).rejects.toThrow();
    for (const schema of Object.values(WEBHOOK_EVENT_SCHEMAS)) {
      const keys = Object.keys(schema.shape);
      expect(
        keys.every((k) => /Id$|Ids$|^status$|^platform$|^code$|^check$|^seq$|^reason$/.test(k)),
        keys.join(),
      ).toBe(true);
    }
  });

  it('retention deletes settled events older than the window, never one with a pending delivery', async () => {
    const s = await setup('Retention');
    await s.receiver.stop();
    const settled = await emitWebhookEvent(t.services.db, {
      organizationId: s.org.organizationId,
      type: 'sync.recovered',
      data: { connectionId: crypto.randomUUID(), platform: 'p' },
    });
    const pending = await emitWebhookEvent(t.services.db, {
      organizationId: s.org.organizationId,
      type: 'sync.recovered',
      data: { connectionId: crypto.randomUUID(), platform: 'p' },
    });
    await t.services.db.updateTable('webhook_deliveries').set({ status: 'delivered' }).where('event_id', '=', settled!).execute();
    await t.services.db
      .updateTable('webhook_events')
      .set({ created_at: new Date(Date.now() - 40 * 24 * 3600_000) })
      .where('id', 'in', [settled!, pending!])
      .execute();
    expect((await pruneWebhookLog(t.services.db, 30)).deleted).toBeGreaterThanOrEqual(1);
    const left = await t.services.db.selectFrom('webhook_events').select('id').where('id', 'in', [settled!, pending!]).execute();
    expect(left.map((r) => r.id)).toEqual([pending]);
    expect(await t.services.db.selectFrom('webhook_deliveries').select('id').where('event_id', '=', settled!).execute()).toEqual([]);
    await t.app.request(`/v1/admin/webhooks/${s.endpointId}`, { method: 'DELETE', headers: s.headers });
  });

  it('an invitation and an integrity failure are announced once however often they are emitted', async () => {
    const org = await seedOrg(t.services, 'Dedup');
    const invitationId = crypto.randomUUID();
    expect(await emitInvitationEvent(t.services.db, { organizationId: org.organizationId, kind: 'sent', invitationId })).not.toBeNull();
    expect(await emitInvitationEvent(t.services.db, { organizationId: org.organizationId, kind: 'sent', invitationId })).toBeNull();
    const count = await t.services.db
      .selectFrom('webhook_events')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('organization_id', '=', org.organizationId)
      .executeTakeFirstOrThrow();
    expect(count.n).toBe(1);
  });
});
