import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultFor } from '../../src/connections/token-refresh.ts';
import { sealCheckpoints } from '../../src/transfers/checkpoints.ts';
import { TransferLogWriter } from '../../src/transfers/log-writer.ts';
import { verifySignature } from '../../src/webhooks/signature.ts';
import { logEntry } from '../privacy/helpers.ts';
import { signInAs } from '../support/fixtures.ts';
import { caseWithEvents, createSyncEnv, GOOGLE_ACCOUNT, type SyncEnv } from '../sync/support/env.ts';
import { type Received, Receiver, waitFor } from './receiver.ts';

/**
 * The events where they happen, against the Google sandbox with every real worker running (sync,
 * revoke, webhooks): connecting, losing the grant during a sync, an admin revocation and its receipt,
 * and a tampered transfer log the sealing run refuses. The receiver checks every signature.
 */

let env: SyncEnv;
let admin: Record<string, string>;
let receiver: Receiver;
let secret: string;

beforeAll(async () => {
  env = await createSyncEnv({
    env: {
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      WEBHOOK_RETRY_BASE_MS: '100',
      WEBHOOK_RETRY_MAX_DELAY_MS: '400',
      WEBHOOK_DISPATCH_INTERVAL_MS: '100',
      REVOCATION_RETRY_BASE_MS: '50',
    },
  });
  admin = {
    ...(await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' })),
    'content-type': 'application/json',
  };
  receiver = new Receiver();
  await receiver.start();
  const res = await env.t.app.request('/v1/admin/webhooks', { method: 'POST', headers: admin, body: JSON.stringify({ url: receiver.url }) });
  expect(res.status).toBe(201);
  secret = ((await res.json()) as { secret: string }).secret;
  await env.startWorkers();
}, 120_000);

afterAll(async () => {
  await receiver?.stop();
  await env?.close();
});

const bodyOf = (r: Received) => JSON.parse(r.body) as { id: string; type: string; createdAt: string; data: Record<string, unknown> };
const signed = (r: Received) =>
  verifySignature({ secret, header: r.headers['casebridge-webhook-signature']!, timestamp: r.headers['casebridge-webhook-timestamp']!, body: r.body });

/**
 * Events received about one connection, in the order they happened (`createdAt`): deliveries run in
 * parallel and are retried, so arrival order is not event order — receivers order by `createdAt`.
 */
const about = (connectionId: string) =>
  receiver.received
    .map(bodyOf)
    .filter((b) => b.data.connectionId === connectionId || (b.data.connectionIds as string[] | undefined)?.includes(connectionId))
    .sort((x, y) => Date.parse(x.createdAt) - Date.parse(y.createdAt));

describe('webhook events from the real flows', () => {
  it('connecting sends connection.created then connection.active; a lost grant during a sync sends connection.reauth_required', async () => {
    const connectionId = await env.connect();
    // Both events, whichever arrives first (deliveries run in parallel).
    await waitFor(
      () => about(connectionId).filter((b) => b.type === 'connection.created' || b.type === 'connection.active').length >= 2,
      15_000,
      'connection.created and connection.active',
    );
    expect(about(connectionId).map((b) => [b.type, b.data.status])).toEqual([
      ['connection.created', 'pending'],
      ['connection.active', 'active'],
    ]);
    expect(about(connectionId)[0]!.data).toEqual({ connectionId, userId: env.org.member.id, platform: 'google_calendar', status: 'pending' });
    await env.waitIdle();

    const vault = vaultFor(env.t.services);
    const tokens = (await vault.load(connectionId))!;
    await vault.save(connectionId, { ...tokens, expiresAt: Date.now() - 1 });
    env.sandbox.state.addFault({ provider: 'google', kind: 'invalid_grant', account: GOOGLE_ACCOUNT });
    await env.ingest(caseWithEvents({ caseId: 'wh-1', assignee: env.org.member.email, n: 2 }));
    await waitFor(() => about(connectionId).some((b) => b.type === 'connection.reauth_required'), 20_000, 'connection.reauth_required');
    env.sandbox.state.faults = [];
    const reauth = about(connectionId).find((b) => b.type === 'connection.reauth_required')!;
    expect(reauth.data).toMatchObject({ status: 'reauth_required', code: 'reauth_required' });
    expect(receiver.received.every(signed)).toBe(true);
  }, 90_000);

  it('a sync that fails for good sends sync.failed once; the next good run sends sync.recovered', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    // The destination calendar refuses every request with a 400: the run cannot provision or list, a permanent failure.
    env.sandbox.state.addFault({ provider: 'google', kind: 'status', status: 400, path: '^/calendar/v3/' });
    await env.t.services.queues.enqueueSync(connectionId, 'full');
    await env.waitIdle();
    await env.t.services.queues.enqueueSync(connectionId, 'full');
    await env.waitIdle();
    env.sandbox.state.faults = [];
    await waitFor(() => about(connectionId).some((b) => b.type === 'sync.failed'), 15_000, 'sync.failed');
    await env.t.services.queues.enqueueSync(connectionId, 'full');
    await env.waitIdle();
    await waitFor(() => about(connectionId).some((b) => b.type === 'sync.recovered'), 15_000, 'sync.recovered');
    const types = about(connectionId).map((b) => b.type);
    expect(types.filter((x) => x === 'sync.failed')).toHaveLength(1);
    expect(types.filter((x) => x === 'sync.recovered')).toHaveLength(1);
    expect(types.indexOf('sync.failed')).toBeLessThan(types.indexOf('sync.recovered'));
    expect(about(connectionId).find((b) => b.type === 'sync.failed')!.data).toMatchObject({
      connectionId,
      platform: 'google_calendar',
      code: expect.any(String),
    });
  }, 90_000);

  it('an admin revocation sends connection.revoked, then revocation.completed with the receipt id', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    const res = await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ target: { kind: 'connection', connectionId }, reason: 'employee left' }),
    });
    expect(res.status).toBe(202);
    const revocationId = ((await res.json()) as { revocation: { id: string } }).revocation.id;
    const completed = await waitFor(() => about(connectionId).find((b) => b.type === 'revocation.completed'), 30_000, 'revocation.completed');
    expect(completed.data).toMatchObject({ revocationId, receiptId: revocationId, connectionIds: [connectionId] });
    const types = about(connectionId).map((b) => b.type);
    expect(types.indexOf('connection.revoked')).toBeGreaterThan(-1);
    expect(types.indexOf('connection.revoked')).toBeLessThan(types.indexOf('revocation.completed'));
    // The receipt the event points to exists and says the same status.
    const view = await env.t.app.request(`/v1/admin/revocations/${revocationId}`, { headers: admin });
    expect(((await view.json()) as { revocation: { status: string } }).revocation.status).toBe(completed.data.status);
    expect(receiver.received.every(signed)).toBe(true);
  }, 90_000);

  it('a tampered transfer log refused at sealing sends integrity.check_failed, once', async () => {
    const orgId = env.org.organizationId;
    const writer = new TransferLogWriter(env.t.services.db);
    await writer.append([0, 1, 2].map((n) => logEntry(orgId, n)));
    await sealCheckpoints(env.t.services, { organizationId: orgId });
    await writer.append([10, 11].map((n) => logEntry(orgId, n)));
    const head = await env.t.services.db.selectFrom('transfer_log_heads').select('seq').where('organization_id', '=', orgId).executeTakeFirstOrThrow();
    await sql`ALTER TABLE transfer_log DISABLE TRIGGER transfer_log_append_only`.execute(env.t.services.db);
    await sql`UPDATE transfer_log SET recipient_account = ${'someone-else@example.test'} WHERE organization_id = ${orgId} AND seq = ${Number(head.seq)}`.execute(
      env.t.services.db,
    );
    await sql`ALTER TABLE transfer_log ENABLE TRIGGER transfer_log_append_only`.execute(env.t.services.db);
    expect((await sealCheckpoints(env.t.services, { organizationId: orgId })).refused).toHaveLength(1);
    expect((await sealCheckpoints(env.t.services, { organizationId: orgId })).refused).toHaveLength(1);
    const got = await waitFor(
      () => {
        const hits = receiver.received.map(bodyOf).filter((b) => b.type === 'integrity.check_failed');
        return hits.length ? hits : null;
      },
      10_000,
      'integrity.check_failed',
    );
    expect(got[0]!.data).toMatchObject({ check: 'transfer_log_seal', seq: Number(head.seq), reason: expect.stringMatching(/changed after it was written/) });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.received.map(bodyOf).filter((b) => b.type === 'integrity.check_failed')).toHaveLength(1);
  });
});
