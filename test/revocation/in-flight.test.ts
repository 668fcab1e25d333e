import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationViewSchema } from '../../src/api/schemas/revocations.ts';
import { signInAs } from '../support/fixtures.ts';
import { caseWithEvents, createSyncEnv, eventItem, type SyncEnv } from '../sync/support/env.ts';

/**
 * Revocation with a call in flight: a PATCH the provider holds for 45 s (past the 30 s client timeout)
 * while the connection is revoked. The revocation answers at its drain deadline, lists the call by
 * transfer id on the receipt, and resolves it by reading the provider once it can no longer land.
 */
describe('revocation with a call in flight', () => {
  let env: SyncEnv;
  let admin: Record<string, string>;

  beforeAll(async () => {
    env = await createSyncEnv({
      env: { REVOCATION_RETRY_BASE_MS: '50', REVOCATION_DRAIN_TIMEOUT_MS: '1500', TRANSFER_UNKNOWN_SETTLE_MS: '48000' },
    });
    admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    await env.startWorkers();
  }, 120_000);
  afterAll(async () => env?.close());

  const view = async (id: string) => {
    const res = await env.t.app.request(`/v1/admin/revocations/${id}`, { headers: admin });
    const body = (await res.json()) as { revocation: Record<string, unknown> & { status: string; receipt: unknown; callsOutcomeUnknown: unknown } };
    expect(() => RevocationViewSchema.parse(body)).not.toThrow();
    return body.revocation;
  };

  it('answers at the drain deadline, sends nothing after the 202, lists the slow call on the receipt and resolves it as took_effect', async () => {
    const connectionId = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'slow', assignee: env.org.member.email, n: 1 }));
    await env.waitIdle();
    await fetch(`${env.sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'google', method: 'PATCH', path: '/events/', kind: 'delay', delayMs: 45_000, times: 1 }),
    });
    await env.ingest([eventItem('slow', 0, 'Moved hearing')]);
    // Wait until the PATCH has left: its intent is committed and has no outcome.
    let intentId: string | null = null;
    const until = Date.now() + 20_000;
    while (!intentId && Date.now() < until) {
      const rows = await env.t.services.db
        .selectFrom('transfer_log')
        .select(['id', 'intent_id', 'outcome', 'operation'])
        .where('connection_id', '=', connectionId)
        .execute();
      const open = rows.filter((r) => r.outcome === 'intent' && r.operation === 'update' && !rows.some((o) => o.intent_id === r.id));
      intentId = open[0]?.id ?? null;
      if (!intentId) await new Promise((r) => setTimeout(r, 50));
    }
    expect(intentId).not.toBeNull();
    await new Promise((r) => setTimeout(r, 200));

    const started = Date.now();
    const res = await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId }, reason: 'call in flight' }),
    });
    const answeredAt = Date.now();
    const seqAt202 = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    expect(res.status).toBe(202);
    expect(answeredAt - started).toBeLessThan(8_000);
    const { id } = ((await res.json()) as { revocation: { id: string } }).revocation;
    const early = await view(id);
    expect(early.status).toBe('in_progress');
    expect(early.callsOutcomeUnknown).toEqual([{ transferId: intentId, resolution: 'pending' }]);

    let done = early;
    const deadline = Date.now() + 90_000;
    while (done.status === 'in_progress' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      done = await view(id);
    }
    expect(done.status).toBe('completed_with_calls_in_flight');
    const receipt = (done.receipt as { payload: { status: string; callsOutcomeUnknown: unknown; effectiveAt: string } }).payload;
    expect(receipt.status).toBe('completed_with_calls_in_flight');
    expect(receipt.callsOutcomeUnknown).toEqual([{ transferId: intentId, resolution: 'took_effect' }]);

    // The only provider write after the 202 is the listed call, landing late; nothing else left.
    const after = env.sandbox.state.ledger.filter((e) => e.seq > seqAt202 && e.write && e.provider === 'google' && e.path.includes('/events'));
    expect(after.map((e) => e.method)).toEqual(['PATCH']);
    expect(after[0]!.atMs).toBeGreaterThan(new Date(receipt.effectiveAt).getTime());
    // The log tells it: intent, unknown (a timeout, not "could not be reached"), then the resolution.
    const rows = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['outcome', 'reason', 'error_message'])
      .where((eb) => eb.or([eb('id', '=', intentId!), eb('intent_id', '=', intentId!)]))
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => r.outcome)).toEqual(['intent', 'unknown', 'resolved']);
    expect(rows[1]!.error_message).toMatch(/timed out/);
    expect(rows[2]!.reason).toBe('took_effect');
  }, 150_000);
});
