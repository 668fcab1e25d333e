import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calendarStore } from '../../sandbox/google/calendar.ts';
import { RevocationViewSchema } from '../../src/api/schemas/revocations.ts';
import { runCli } from '../../src/cli/main.ts';
import { jobCtx } from '../privacy/helpers.ts';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * The revocation pipeline against the sandbox, with real BullMQ workers: from the moment the admin
 * request returns no write reaches the provider; the provider-side steps retry; receipts verify.
 */
describe('revocation', () => {
  let env: SyncEnv;
  let admin: Record<string, string>;

  beforeAll(async () => {
    env = await createSyncEnv({ env: { REVOCATION_RETRY_BASE_MS: '50', SUPER_ADMIN_TOKEN: 'super-admin-token-for-tests-0123456789abcdef' } });
    admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    await env.startWorkers();
  }, 120_000);
  afterAll(async () => env?.close());

  const revoke = (body: unknown, headers = admin) =>
    env.t.app.request('/v1/admin/revocations', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const waitForReceipt = async (id: string, headers = admin) => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const res = await env.t.app.request(`/v1/admin/revocations/${id}`, { headers });
      const body = (await res.json()) as { revocation: Record<string, unknown> & { status: string; receipt: unknown } };
      // Every view, in progress or complete, is what the OpenAPI document says it is.
      expect(() => RevocationViewSchema.parse(body)).not.toThrow();
      if (body.revocation.status !== 'in_progress') return body.revocation;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('revocation did not complete');
  };

  it('stops every write from the moment the 202 is sent, even while a 1,000-event reconcile runs', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    await env.ingest(caseWithEvents({ caseId: 'big', assignee: env.org.member.email, n: 1000 }));
    // Let the reconcile get going, then revoke in the middle of it.
    const deadline = Date.now() + 30_000;
    while (env.writes().length < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const res = await revoke({ target: { kind: 'connection', connectionId }, reason: 'employee left' });
    const seqAt202 = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    expect(res.status).toBe(202);
    const writesBefore = env.writes().length;
    expect(writesBefore).toBeGreaterThan(0);
    expect(writesBefore).toBeLessThan(1001); // it really was mid-sync
    const done = await waitForReceipt(((await res.json()) as { revocation: { id: string } }).revocation.id);
    await env.waitIdle();
    const after = env.sandbox.state.ledger.filter((e) => e.seq > seqAt202 && e.write && e.provider === 'google' && e.path.includes('/events'));
    expect(after).toEqual([]);
    // The receipt's effectiveAt is the instant from which no transfer could start or still be running:
    // every intent and every completed call of the connection is logged before it; only refusals after.
    const receipt = (done.receipt as { payload: { effectiveAt: string; requestedAt: string } }).payload;
    const effectiveAt = new Date(receipt.effectiveAt).getTime();
    const logRows = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['outcome', 'created_at'])
      .where('connection_id', '=', connectionId)
      .where('purpose', '=', 'calendar_sync')
      .execute();
    const late = logRows.filter((r) => r.outcome !== 'blocked' && r.created_at.getTime() > effectiveAt);
    expect(logRows.filter((r) => r.outcome === 'sent').length).toBeGreaterThan(0);
    expect(late).toEqual([]);
    expect(effectiveAt).toBeGreaterThanOrEqual(new Date(receipt.requestedAt).getTime());
    const conn = await env.t.services.db.selectFrom('connections').select('status').where('id', '=', connectionId).executeTakeFirstOrThrow();
    expect(conn.status).toBe('revoked');
    const tokens = await env.t.services.db.selectFrom('connection_tokens').selectAll().where('connection_id', '=', connectionId).execute();
    expect(tokens).toEqual([]); // crypto-shredded
    // Later connections of this member should not have to sync the big case again.
    await env.ingest([{ op: 'delete', type: 'case', externalId: 'big' }]);
  });

  it('answers only after a call already past the gate has finished, and the receipt counts it', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const inCall = new Promise<void>((r) => {
      started = r;
    });
    let callEndedAt = 0;
    // A transfer the gate let through (intent written, lease held) whose provider call is slow.
    const transfer = env.t.services.gate.send(
      jobCtx(connectionId),
      { operation: 'create', categories: ['calendar.events'], subjects: {}, recipient: { account: null, destination: 'slow' }, fields: { title: 'Hearing' } },
      async () => {
        started();
        await held;
        callEndedAt = Date.now();
        return { value: null };
      },
    );
    await inCall;
    let answeredAt = 0;
    const pending = Promise.resolve(revoke({ target: { kind: 'connection', connectionId }, reason: 'drain test' })).then((res) => {
      answeredAt = Date.now();
      return res;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(answeredAt).toBe(0); // still waiting for the call
    release();
    const res = await pending;
    expect(res.status).toBe(202);
    expect((await transfer).outcome).toBe('sent');
    expect(answeredAt).toBeGreaterThanOrEqual(callEndedAt);
    const done = await waitForReceipt(((await res.json()) as { revocation: { id: string } }).revocation.id);
    const payload = (done.receipt as { payload: { status: string; effectiveAt: string; counts: { callsDrained: number; callsStillRunning: number } } }).payload;
    expect(payload.counts).toMatchObject({ callsDrained: 1, callsStillRunning: 0 });
    expect(payload.status).toBe('completed');
    expect(new Date(payload.effectiveAt).getTime()).toBeGreaterThanOrEqual(callEndedAt);
    expect(done.progress).toMatchObject({ callsDrained: 1, callsStillRunning: 0 });
  });

  it('completes locally when the provider revoke endpoint fails, and retries the provider step', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    await fetch(`${env.sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'google', path: '/google/revoke', kind: 'status', status: 503, times: 2 }),
    });
    const res = await revoke({ target: { kind: 'connection', connectionId }, reason: 'client objected' });
    expect(res.status).toBe(202);
    const { id } = ((await res.json()) as { revocation: { id: string } }).revocation;
    // Locally revoked before the answer, whatever the provider does.
    const conn = await env.t.services.db.selectFrom('connections').select('status').where('id', '=', connectionId).executeTakeFirstOrThrow();
    expect(conn.status).toBe('revoked');
    const done = (await waitForReceipt(id)) as unknown as {
      status: string;
      connections: Array<{ steps: Array<{ step: string; result: string; attempts: number }> }>;
    };
    expect(done.status).toBe('completed');
    const tokenStep = done.connections[0]!.steps.find((s) => s.step === 'provider_revoke');
    expect(tokenStep?.result).toBe('done');
    expect(tokenStep?.attempts).toBe(3);
    const revokeCalls = env.sandbox.state.ledger.filter((e) => e.path === '/google/revoke');
    expect(revokeCalls.at(-1)?.status).toBe(200);
  });

  it('forgets the tokens, the remembered items and the import cursor of every revoked connection, purge or not', async () => {
    const connectionId = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'forget', assignee: env.org.member.email, n: 3 }));
    await env.waitIdle();
    const { db } = env.t.services;
    const count = async (table: 'sync_state' | 'connection_tokens' | 'connector_cursors') =>
      Number(
        (
          await db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('connection_id', '=', connectionId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    await db.insertInto('connector_cursors').values({ connection_id: connectionId, cursor: 'delta-token', kind: 'delta' }).execute();
    expect(await count('sync_state')).toBeGreaterThan(0);
    const res = await revoke({ target: { kind: 'connection', connectionId }, reason: 'left the firm' });
    expect(res.status).toBe(202);
    const { id } = ((await res.json()) as { revocation: { id: string } }).revocation;
    const done = (await waitForReceipt(id)) as unknown as { connections: Array<{ steps: Array<{ step: string; result: string }> }> };
    const steps = Object.fromEntries(done.connections[0]!.steps.map((s) => [s.step, s.result]));
    expect(steps).toMatchObject({ shred_tokens: 'done', clear_sync_state: 'done' });
    expect([await count('sync_state'), await count('connection_tokens'), await count('connector_cursors')]).toEqual([0, 0, 0]);
  });

  it('purgeRemote removes the dedicated calendar in the sandbox', async () => {
    const connectionId = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'purge', assignee: env.org.member.email, n: 5 }));
    await env.waitIdle();
    const calendarId = await env.calendarId(connectionId);
    expect(calendarStore(env.sandbox.state).calendars.has(calendarId)).toBe(true);
    const res = await revoke({ target: { kind: 'connection', connectionId }, reason: 'suspected breach', purgeRemote: true });
    expect(res.status).toBe(202);
    const done = (await waitForReceipt(((await res.json()) as { revocation: { id: string } }).revocation.id)) as unknown as {
      progress: { remoteItemsRemoved: number };
    };
    expect(calendarStore(env.sandbox.state).calendars.has(calendarId)).toBe(false);
    expect(done.progress.remoteItemsRemoved).toBeGreaterThan(0);
  });

  it('revoking twice is harmless and says so', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    const first = await revoke({ target: { kind: 'connection', connectionId }, reason: 'first' });
    expect(first.status).toBe(202);
    const second = await revoke({ target: { kind: 'connection', connectionId }, reason: 'second' });
    expect(second.status).toBe(200);
    const body = (await second.json()) as { revocation: { created: boolean; status: string; id: string } };
    expect(body.revocation).toMatchObject({ created: false, status: 'already_revoked' });
    expect(body.revocation.id).toBe(((await first.json()) as { revocation: { id: string } }).revocation.id);
  });

  it('refuses members (403) and hides other organizations (404)', async () => {
    const connectionId = await env.connect();
    expect((await revoke({ target: { kind: 'connection', connectionId }, reason: 'x' }, env.member)).status).toBe(403);
    const other = await seedOrg(env.t.services, 'Other Firm');
    const otherAdmin = await signInAs(env.t.services, { id: other.admin.id, organizationId: other.organizationId, role: 'admin' });
    const res = await revoke({ target: { kind: 'connection', connectionId }, reason: 'x' }, otherAdmin);
    expect(res.status).toBe(404);
    const conn = await env.connection(connectionId);
    expect(conn.status).not.toBe('revoked');
  });

  it('signs the receipt: it verifies, and fails after any edit', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    const res = await revoke({ target: { kind: 'connection', connectionId }, reason: 'receipt check' });
    const view = await waitForReceipt(((await res.json()) as { revocation: { id: string } }).revocation.id);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'receipt-'));
    const good = path.join(dir, 'good.json');
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(good, JSON.stringify(view.receipt));
    const edited = structuredClone(view.receipt) as { payload: { reason: string } };
    edited.payload.reason = 'something else';
    fs.writeFileSync(bad, JSON.stringify(edited));
    const keyFile = path.join(dir, 'key.pem');
    fs.writeFileSync(keyFile, String(view.publicKey));
    const log = console.log;
    console.log = () => {};
    try {
      expect(await runCli(['receipts', 'verify', good, '--public-key', keyFile])).toBe(0);
      expect(await runCli(['receipts', 'verify', bad, '--public-key', keyFile])).toBe(1);
    } finally {
      console.log = log;
    }
  });

  it('a user disconnects their own connection, but cannot touch anyone else’s', async () => {
    const connectionId = await env.connect();
    const otherMember = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    expect((await env.t.app.request(`/v1/connections/${connectionId}`, { method: 'DELETE', headers: otherMember })).status).toBe(404);
    const res = await env.t.app.request(`/v1/connections/${connectionId}`, { method: 'DELETE', headers: env.member });
    expect(res.status).toBe(202);
    expect((await env.connection(connectionId)).status).toBe('revoked');
  });

  it('a revoked iCal feed answers 404 immediately', async () => {
    const created = await env.t.app.request('/v1/ical-feeds', {
      method: 'POST',
      headers: { ...env.member, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Mine', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(created.status).toBe(201);
    const { feed, url } = (await created.json()) as { feed: { id: string; connectionId: string }; url: string };
    const feedPath = new URL(url).pathname;
    expect((await env.t.app.request(feedPath)).status).toBe(200);
    const res = await revoke({ target: { kind: 'user', userId: env.org.member.id }, reason: 'employee left' });
    expect(res.status).toBe(202);
    expect((await env.t.app.request(feedPath)).status).toBe(404);
    // The token itself is invalidated by the time of the 202, not only by the later clean-up.
    const row = await env.t.services.db.selectFrom('ical_feeds').select('revoked_at').where('id', '=', feed.id).executeTakeFirstOrThrow();
    expect(row.revoked_at).not.toBeNull();
  });

  it('disabling a platform refuses new connections and pauses existing ones', async () => {
    const connectionId = await env.connect();
    const res = await env.t.app.request('/v1/admin/platforms/google_calendar', {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false, existingConnections: 'pause' }),
    });
    expect(res.status).toBe(200);
    expect((await env.connection(connectionId)).status).toBe('paused');
    const attempt = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...env.member, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    expect(attempt.status).toBe(403);
    await env.t.app.request('/v1/admin/platforms/google_calendar', {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: true }),
    });
  });

  it('the super administrator revokes a platform in every organization', async () => {
    const connectionId = await env.connect();
    const bad = await env.t.app.request('/v1/super-admin/revocations', {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'google_calendar', reason: 'breach' }),
    });
    expect(bad.status).toBe(401);
    const res = await env.t.app.request('/v1/super-admin/revocations', {
      method: 'POST',
      headers: { authorization: 'Bearer super-admin-token-for-tests-0123456789abcdef', 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'google_calendar', reason: 'provider breach' }),
    });
    expect(res.status).toBe(202);
    expect((await env.connection(connectionId)).status).toBe('revoked');
    const live = await env.t.services.db
      .selectFrom('connections')
      .select('id')
      .where('platform', '=', 'google_calendar')
      .where('status', '!=', 'revoked')
      .execute();
    expect(live).toEqual([]);
  });
});
