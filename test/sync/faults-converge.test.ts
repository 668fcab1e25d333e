import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '../../connectors/google-calendar/manifest.ts';
import type { Fault, FaultSpec } from '../../sandbox/state.ts';
import { recoverOpenTransfers } from '../../src/transfers/resolution.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from './support/env.ts';
import { ledgerMismatches } from './support/ledger-check.ts';

/**
 * Faults do not stall a run (the engine's lanes, sandbox fault injection over real HTTP, real
 * workers): 60 new events with every fifth insert faulted — 500s, 429s with Retry-After, one insert
 * the sandbox holds 31 s, past the write timeout (GOOGLE_WRITE_TIMEOUT_MS, 10 s by default), and
 * applies afterwards. The run keeps going around
 * the slow call, pauses the account on a 429 while calls already allowed finish, then sends what it had
 * not sent; the log then says exactly what the provider's ledger says.
 */

const N = 60;
const RETRY_AFTER_S = 2;

let env: SyncEnv;

beforeAll(async () => {
  env = await createSyncEnv();
  await env.startWorkers({ sync: { chunkSize: 20 } });
});
afterAll(async () => env.close());

/** Adds `specs` one at a time, each for one request, as every `every`-th event insert reaches the sandbox. */
function spreadFaults(specs: FaultSpec[], every: number): { faults: Fault[]; stop(): void } {
  const faults: Fault[] = [];
  const inserts = () => env.sandbox.state.ledger.filter((e) => e.method === 'POST' && e.path.endsWith('/events')).length;
  const timer = setInterval(() => {
    while (faults.length < specs.length && inserts() >= faults.length * every) {
      faults.push(env.sandbox.state.addFault({ ...specs[faults.length]!, provider: 'google', method: 'POST', path: '/events$', times: 1 }));
    }
  }, 1);
  return { faults, stop: () => clearInterval(timer) };
}

describe('faults do not stall a run', () => {
  it('converges around 500s, 429s and a call held past the timeout, with one sent or resolved row per provider write', async () => {
    const connectionId = await env.connect();
    await env.waitIdle();
    const calendarId = await env.calendarId(connectionId);
    const specs: FaultSpec[] = [
      { kind: 'delay', delayMs: 31_000 },
      ...Array.from(
        { length: 9 },
        (_, i): FaultSpec => (i === 2 || i === 6 ? { kind: 'status', status: 429, retryAfterSeconds: RETRY_AFTER_S } : { kind: 'status', status: 500 }),
      ),
    ];
    const injected = spreadFaults(specs, 5);
    const started = Date.now();
    await env.ingest(caseWithEvents({ caseId: 'faults', assignee: env.org.member.email, n: N }));

    // The held insert does not hold back the rest: all but it and the 500s are written long before it times out.
    const rateLimitedAt = new Map<Fault, number>();
    let allButStragglers: number | null = null;
    while (Date.now() - started < 25_000 && (allButStragglers === null || rateLimitedAt.size < 2)) {
      for (const f of injected.faults) if (f.status === 429 && f.hits && !rateLimitedAt.has(f)) rateLimitedAt.set(f, Date.now());
      if (allButStragglers === null && env.liveEvents(calendarId).length >= N - 1 - 7) allButStragglers = Date.now() - started;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(allButStragglers, 'events written while the held insert was still out').not.toBeNull();
    expect(allButStragglers!).toBeLessThan(20_000);

    await env.waitIdle(90_000);
    injected.stop();
    expect(injected.faults.map((f) => f.hits)).toEqual(specs.map(() => 1));
    // Let the held insert land, then recover as the maintenance job does.
    await new Promise((r) => setTimeout(r, Math.max(0, started + 32_000 - Date.now())));
    const report = await recoverOpenTransfers(env.t.services, { now: Date.now() + 60_000, settleMs: 0 });
    expect(report.pending).toEqual([]);

    expect(env.liveEvents(calendarId)).toHaveLength(N);
    const google = env.writes().filter((w) => w.provider === 'google' && w.path.startsWith('/calendar/v3/'));
    const check = await ledgerMismatches({ db: env.t.services.db, connectionIds: [connectionId], writes: google });
    expect(check.mismatches).toEqual([]);
    expect(check.items).toBe(N);

    const rows = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['outcome', 'reason', 'provider_status', 'error_message'])
      .where('connection_id', '=', connectionId)
      .where('item_key', 'like', 'event:%')
      .execute();
    // `failed` rows are the provider's error answers and nothing else: steps never sent leave none.
    const failed = rows.filter((r) => r.outcome === 'failed');
    expect(failed.map((r) => r.provider_status).sort()).toEqual([...Array(7).fill(500), 429, 429].sort());
    // The held insert was logged as unknown (a timeout) and resolved by reading the provider: it took
    // effect, or — when the run's second attempt created the event first — it met a 409 and did not.
    const unknown = rows.filter((r) => r.outcome === 'unknown');
    expect(unknown).toHaveLength(1);
    // Given up after the write timeout (10 s), not the 30 s read timeout.
    expect(unknown[0]!.error_message).toMatch(/within 10 s \(timed out/);
    const resolved = rows.filter((r) => r.outcome === 'resolved').map((r) => r.reason);
    expect(resolved).toHaveLength(1);
    expect(['took_effect', 'did_not_take_effect']).toContain(resolved[0]);
    // `not_sent` rows are only intents written ahead for steps a 429 pause then held back. The gate
    // writes intents at most two windows (2 × the account's concurrency) ahead, so each pause leaves at
    // most that many; how many a pause catches depends on how far ahead the writes were (load).
    const notSent = rows.filter((r) => r.outcome === 'not_sent');
    expect(new Set(notSent.map((r) => r.reason))).toEqual(new Set(notSent.length ? ['rate_limited'] : []));
    for (const r of notSent) expect(r.provider_status, 'a not_sent row has no provider answer').toBeNull();
    const pauses = specs.filter((s) => s.kind === 'status' && s.status === 429).length;
    expect(notSent.length).toBeLessThanOrEqual(pauses * 2 * (manifest.rateBudgets?.perAccount?.concurrency ?? 1));

    // After each 429 the account's inserts paused for Retry-After, apart from calls already allowed:
    // an insert that reached the sandbox in the pause must have had its intent written before the
    // worker received the 429 (its `failed` row). The sandbox answers earlier than that — under load,
    // tens of milliseconds — and calls allowed meanwhile may still leave.
    const inserts = env.sandbox.state.ledger.filter((e) => e.write && e.method === 'POST' && e.path.endsWith('/events') && e.atMs >= started);
    const logged = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['item_key', 'outcome', 'provider_status', 'created_at'])
      .where('connection_id', '=', connectionId)
      .where('outcome', 'in', ['intent', 'failed'])
      .execute();
    const intents = logged.filter((r) => r.outcome === 'intent');
    const received429 = logged.filter((r) => r.outcome === 'failed' && r.provider_status === 429).map((r) => new Date(r.created_at).getTime());
    const itemOf = (e: (typeof inserts)[number]) =>
      `event:${(e.object as { extendedProperties?: { private?: { casebridgeEventId?: string } } } | undefined)?.extendedProperties?.private?.casebridgeEventId}`;
    expect(rateLimitedAt.size).toBe(2);
    expect(received429).toHaveLength(2);
    for (const at of received429) {
      const during = inserts
        .filter((e) => e.atMs > at && e.atMs < at + RETRY_AFTER_S * 1000)
        .filter((e) => !intents.some((i) => i.item_key === itemOf(e) && new Date(i.created_at).getTime() <= at));
      expect(
        during.map((e) => ({ at: e.atMs - at, item: itemOf(e) })),
        'inserts while the account was paused',
      ).toEqual([]);
    }
  }, 180_000);
});
