import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import type { OutboundGateImpl } from '../../src/transfers/gate.ts';
import { rowToEntry } from '../../src/transfers/log-entry.ts';
import { signInAs } from '../support/fixtures.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * A revocation lists on its receipt every transfer of the connection whose outcome is not known when
 * it answers — not only calls still out at the drain deadline, but an intent a process that died left
 * open (its lease long gone, so the drain does not wait for it) and a call that ended `unknown` and is
 * not resolved yet — and its pipeline resolves each by reading the provider before it revokes the
 * token. So after the 202 the only requests for the connection are those reads (and the pipeline's own
 * steps): nobody else needs to ask the provider about it. (Found while reading a chaos run's GETs of
 * a revoked connection's events 42 ms to 5 s after its 202: resolution reads, which the receipt listed
 * only for calls still out at the drain deadline.)
 */
describe('revocation with transfers of unknown outcome but no call in flight', () => {
  let env: SyncEnv;
  let admin: Record<string, string>;

  beforeAll(async () => {
    env = await createSyncEnv({ env: { REVOCATION_RETRY_BASE_MS: '50', REVOCATION_DRAIN_TIMEOUT_MS: '1500', TRANSFER_UNKNOWN_SETTLE_MS: '500' } });
    admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    await env.startWorkers();
  }, 120_000);
  afterAll(async () => env?.close());

  it('lists an intent left open and an unresolved unknown on the receipt, resolves both by reading, and sends nothing else after the 202', async () => {
    const connectionId = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'open', assignee: env.org.member.email, n: 2 }));
    await env.waitIdle();
    const db = env.t.services.db;
    const sentIntents = (
      await db
        .selectFrom('transfer_log')
        .selectAll()
        .where('connection_id', '=', connectionId)
        .where('outcome', '=', 'intent')
        .where('operation', '=', 'create')
        .orderBy('seq')
        .execute()
    ).map(rowToEntry);
    expect(sentIntents).toHaveLength(2);
    // Two updates whose calls never answered: one left open (the worker died before its outcome, and
    // its lease expired long ago), one already closed as `unknown` and not resolved yet.
    const log = (env.t.services.gate as OutboundGateImpl).log;
    const intentOf = (from: (typeof sentIntents)[number]) => {
      const { seq: _s, prevHash: _p, hash: _h, ...entry } = from;
      return { ...entry, id: randomUUID(), operation: 'update', createdAt: new Date() };
    };
    const leftOpen = intentOf(sentIntents[0]!);
    const unknown = intentOf(sentIntents[1]!);
    await log.append([leftOpen, unknown]);
    await log.append([
      { ...unknown, id: randomUUID(), intentId: unknown.id, outcome: 'unknown', errorClass: 'timeout', errorMessage: 'timed out', createdAt: new Date() },
    ]);
    await new Promise((r) => setTimeout(r, 600)); // past TRANSFER_UNKNOWN_SETTLE_MS: no late request can land any more

    const res = await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId }, reason: 'unsettled transfers' }),
    });
    const seqAt202 = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    expect(res.status).toBe(202);
    const { id } = ((await res.json()) as { revocation: { id: string } }).revocation;
    const view = async () =>
      (
        (await (await env.t.app.request(`/v1/admin/revocations/${id}`, { headers: admin })).json()) as {
          revocation: { status: string; callsOutcomeUnknown: unknown; receipt: { payload: { status: string; callsOutcomeUnknown: unknown } } | null };
        }
      ).revocation;
    // Nothing was in flight, so the drain did not wait; both transfers are on the receipt all the same.
    expect((await view()).callsOutcomeUnknown).toEqual(
      expect.arrayContaining([
        { transferId: leftOpen.id, resolution: expect.any(String) },
        { transferId: unknown.id, resolution: expect.any(String) },
      ]),
    );

    let done = await view();
    const deadline = Date.now() + 30_000;
    while (done.status === 'in_progress' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      done = await view();
    }
    expect(done.status).toBe('completed_with_calls_in_flight');
    // The events still hold the creates' stamps, answered before these calls began: neither took effect.
    expect(done.receipt!.payload.callsOutcomeUnknown).toEqual([
      { transferId: leftOpen.id, resolution: 'did_not_take_effect' },
      { transferId: unknown.id, resolution: 'did_not_take_effect' },
    ]);
    // After the 202: the two reads, of exactly those events, and no other calendar request.
    const eventIds = sentIntents.map((i) => googleEventId(connectionId, i.itemKey!.slice('event:'.length)));
    const after = env.sandbox.state.ledger.filter((e) => e.seq > seqAt202 && e.provider === 'google' && e.path.includes('/calendar/'));
    expect(after.map((e) => `${e.method} ${e.path.split('/').at(-1)}`).sort()).toEqual(eventIds.map((e) => `GET ${e}`).sort());
    // The log closes both: the open intent gets its `unknown`, then each its resolution.
    const rows = await db
      .selectFrom('transfer_log')
      .select(['intent_id', 'outcome', 'reason'])
      .where('intent_id', 'in', [leftOpen.id, unknown.id])
      .orderBy('seq')
      .execute();
    expect(rows.filter((r) => r.intent_id === leftOpen.id).map((r) => r.outcome)).toEqual(['unknown', 'resolved']);
    expect(rows.filter((r) => r.intent_id === unknown.id).map((r) => r.outcome)).toEqual(['unknown', 'resolved']);
  }, 90_000);
});
