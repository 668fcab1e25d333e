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
