import { PGlite } from '@electric-sql/pglite';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '../../connectors/google-calendar/manifest.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from './support/env.ts';

/**
 * What a run costs per write besides its provider calls (the sync benchmark, #5, measures the same):
 * the lanes hold their per-account slots while they have work instead of taking one per chunk, a
 * gate call covers several calls of a lane (they share its revocation-epoch reads and its per-chunk
 * work), and the gate loads the connection's state and consent once for the run, not once per lane.
 * Counted on the real database client and Redis client of this process.
 */

const N = 200;
const CHUNK = 10;

let env: SyncEnv;
/** SQL statements reading `consents` (the gate's and the engine's consent loads), while counting. */
let consentReads = 0;
/** Slot takes of the per-account concurrency limiter (its Lua script in 'take' mode), while counting. */
let slotTakes = 0;
/** Revocation-epoch reads (the gate's lease-and-epoch MULTI reads the epoch key with GET), while counting. */
let epochReads = 0;
let counting = false;

function countStatement(text: unknown): void {
  const sql = typeof text === 'string' ? text : ((text as { text?: string } | null)?.text ?? '');
  if (counting && /^select\b.*\bfrom "consents"/is.test(sql)) consentReads += 1;
}

beforeAll(async () => {
  const pgQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
    countStatement(args[0]);
    return pgQuery.apply(this, args);
  } as typeof pg.Client.prototype.query;
  const liteQuery = PGlite.prototype.query;
  PGlite.prototype.query = function (this: PGlite, ...args: Parameters<PGlite['query']>) {
    countStatement(args[0]);
    return liteQuery.apply(this, args);
  } as typeof liteQuery;
  const proto = Redis.prototype as unknown as { sendCommand(command: { name: string; args: unknown[] }, ...rest: unknown[]): unknown };
  const send = proto.sendCommand;
  proto.sendCommand = function (this: unknown, command: { name: string; args: unknown[] }, ...rest: unknown[]) {
    // Scripts run by EVALSHA (EVAL the first time): [script or sha, number of keys, ...keys, ...args].
    const script = command.name === 'eval' || command.name === 'evalsha';
    if (counting && script && /:conc:/.test(String(command.args[2])) && String(command.args[3]) === 'take') slotTakes += 1;
    // The lease script reads the epoch of each call it registers (one epoch key per begin).
    if (counting && script) epochReads += command.args.filter((a) => /:epoch:/.test(String(a))).length;
    if (counting && command.name === 'get' && /:epoch:/.test(String(command.args[0]))) epochReads += 1;
    return send.call(this, command, ...rest);
  };
  env = await createSyncEnv();
});
afterAll(async () => env?.close());

describe('per-write work of a run', () => {
  it(`writes ${N} events with slots taken per lane, epoch reads shared by a lane's calls, and one state load for the run`, async () => {
    const connectionId = await env.connect();
    await env.startWorkers({ sync: { chunkSize: CHUNK } });
    await env.waitIdle();
    await env.workers!.close();
    const calendarId = await env.calendarId(connectionId);
    await env.ingest(caseWithEvents({ caseId: 'lanes', assignee: env.org.member.email, n: N }));
    const from = env.sandbox.state.ledger.length;

    counting = true;
    await env.startWorkers({ sync: { chunkSize: CHUNK } });
    await env.waitIdle();
    counting = false;

    const inserts = env.sandbox.state.ledger.slice(from).filter((e) => e.method === 'POST' && e.path.endsWith('/events'));
    expect(inserts).toHaveLength(N);
    expect(env.liveEvents(calendarId)).toHaveLength(N);
    const concurrency = manifest.rateBudgets!.perAccount!.concurrency!;
    // 200 steps in chunks of 5 per lane = 40 chunks; slots are taken per lane (one per call it makes at
    // once), again only after a lane waited for handed-back steps: far fewer than one per chunk.
    expect(slotTakes).toBeGreaterThanOrEqual(1);
    expect(slotTakes).toBeLessThanOrEqual(2 * concurrency);
    // A read before each call at most (the gate re-reads the epoch for a call when its last read is
    // 25 ms old); shared by a lane's calls under way together, so fewer than one per write here.
    expect(epochReads).toBeGreaterThanOrEqual(1);
    expect(epochReads).toBeLessThan(N);
    // The engine's consent read and the gate's first load (the other lanes start once it is cached);
    // a later load only after the gate's cache expires (5 s) — not one per lane.
    expect(consentReads).toBeGreaterThanOrEqual(1);
    expect(consentReads).toBeLessThanOrEqual(4);
  });
});

describe('a short run', () => {
  // Its own environment: another connection of the same member would share the account's slots.
  let env: SyncEnv;
  beforeAll(async () => {
    env = await createSyncEnv();
  });
  afterAll(async () => env?.close());

  it('spreads its last steps over both lanes: 8 calls at once, not one lane of 4 while the other idles', async () => {
    const connectionId = await env.connect();
    await env.startWorkers();
    await env.waitIdle();
    await env.workers!.close();
    await env.calendarId(connectionId);
    // Every event insert waits 400 ms at the sandbox; count the inserts waiting at the same time.
    const delayMs = 400;
    env.sandbox.state.addFault({ provider: 'google', method: 'POST', path: '/events$', kind: 'delay', delayMs });
    const state = env.sandbox.state;
    const match = state.matchFaults.bind(state);
    let inFlight = 0;
    let most = 0;
    state.matchFaults = (req, kinds, options) => {
      const hits = match(req, kinds, options);
      if (kinds.includes('delay') && hits.length) {
        inFlight += 1;
        most = Math.max(most, inFlight);
        setTimeout(() => {
          inFlight -= 1;
        }, delayMs);
      }
      return hits;
    };
    try {
      // 20 steps, fewer than one chunk (50): the lanes split them (10 + the rest) instead of the
      // first lane taking all 20 at 4 calls at once.
      await env.ingest(caseWithEvents({ caseId: 'short', assignee: env.org.member.email, n: 20 }));
      await env.startWorkers();
      await env.waitIdle();
    } finally {
      state.matchFaults = match;
      state.faults = [];
    }
    const concurrency = manifest.rateBudgets!.perAccount!.concurrency!;
    expect(most).toBe(concurrency);
  });
});
