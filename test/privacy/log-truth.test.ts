import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderHttpClient } from '../../src/transfers/clients/http.ts';
import type { OutboundGateImpl } from '../../src/transfers/gate.ts';
import { rowToEntry } from '../../src/transfers/log-entry.ts';
import { csvLine, listTransfers, subjectAccessReport } from '../../src/transfers/queries.ts';
import { recoverOpenTransfers, registerWriteCheck } from '../../src/transfers/resolution.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { verifyTransferLog } from '../../src/transfers/verify.ts';
import { type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertConnection, jobCtx, logRows } from './helpers.ts';

/**
 * The log says what is known: a provider that applied a write after our timeout gets `unknown`, later
 * resolved to "took effect" by reading the provider; a call that never left is `not_sent` (or leaves
 * no row at all); a crash or a database error leaves intents that the recovery job closes.
 */

const PLATFORM = 'ledger_platform';

/** A provider over real HTTP that applies every PUT to its ledger — slowly, when asked to. */
function ledgerProvider() {
  const ledger = new Map<string, { body: string; at: number }>();
  let delayMs = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = decodeURIComponent(req.url!.replace(/^\/api\/items\//, ''));
      if (req.method === 'POST') {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
        return;
      }
      if (req.method === 'GET') {
        const hit = ledger.get(key);
        res.writeHead(hit ? 200 : 404, { 'content-type': 'application/json' }).end(hit ? hit.body : '{}');
        return;
      }
      // The write is applied whether or not the caller is still waiting for the answer.
      const apply = () => {
        ledger.set(key, { body, at: Date.now() });
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      };
      if (delayMs) setTimeout(apply, delayMs);
      else apply();
    });
  });
  return {
    server,
    ledger,
    setDelay(ms: number) {
      delayMs = ms;
    },
  };
}

const item = (key: string): TransferItem => ({
  operation: 'update',
  categories: ['calendar.events'],
  subjects: { eventIds: [key] },
  recipient: { account: null, destination: 'cal-1' },
  fields: { title: `Hearing ${key}` },
  itemKey: key,
});

describe('transfer outcomes say what is known', () => {
  let t: TestServices;
  let org: SeededOrg;
  let provider: ReturnType<typeof ledgerProvider>;
  let baseUrl: string;
  let connectionId: string;
  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services);
    provider = ledgerProvider();
    await new Promise<void>((r) => provider.server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(provider.server.address() as AddressInfo).port}/api`;
    connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id, platform: PLATFORM });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    // This platform's "did the write take effect?": read the provider's item.
    registerWriteCheck(PLATFORM, async ({ intent }) => {
      const res = await client(2000)
        .request({ method: 'GET', path: `items/${encodeURIComponent(intent.itemKey!)}` })
        .catch((err: { status?: number }) => {
          if (err.status === 404) return null;
          throw err;
        });
      return res ? 'took_effect' : 'did_not_take_effect';
    });
  });
  afterAll(async () => {
    provider.server.close();
    await t.cleanup();
  });

  const client = (timeoutMs: number, url = baseUrl) => createProviderHttpClient({ name: 'ledger', baseUrl: url, authorize: async () => ({}), timeoutMs });
  const put = (key: string, timeoutMs = 2000, url = baseUrl) =>
    t.services.gate.send(jobCtx(connectionId), item(key), async (fields) => {
      const res = await client(timeoutMs, url).request({ method: 'PUT', path: `items/${encodeURIComponent(key)}`, body: fields });
      return { value: null, status: res.status };
    });
  /** A chunk's call: PUT the item to the ledger. */
  const putEach = async (fields: Record<string, unknown>, it: TransferItem) => {
    const res = await client(2000).request({ method: 'PUT', path: `items/${it.itemKey}`, body: fields });
    return { value: null, status: res.status };
  };
  const rowsOf = async (intentId: string) => (await logRows(t.services, org.organizationId)).filter((r) => r.id === intentId || r.intent_id === intentId);

  it('logs a write the provider applied after the client timeout as unknown ("timed out"), and the recovery resolves it as took_effect', async () => {
    provider.setDelay(400);
    try {
      const result = await put('late-1', 150);
      expect(result).toMatchObject({ outcome: 'failed', logged: 'unknown' });
      await new Promise((r) => setTimeout(r, 500));
      expect(provider.ledger.has('late-1')).toBe(true);
      const rows = await rowsOf(result.transferId);
      expect(rows.map((r) => r.outcome)).toEqual(['intent', 'unknown']);
      expect(rows[1]!.error_message).toMatch(/no answer within 150 ms \(timed out; the request may have been applied\)/);
      expect(rows[1]!.error_message).not.toMatch(/network error|could not be reached/);
      const report = await recoverOpenTransfers(t.services, { organizationId: org.organizationId, settleMs: 300 });
      expect(report.resolved).toContainEqual({ transferId: result.transferId, verdict: 'took_effect' });
      const after = await rowsOf(result.transferId);
      expect(after.map((r) => [r.outcome, r.reason])).toEqual([
        ['intent', null],
        ['unknown', null],
        ['resolved', 'took_effect'],
      ]);
      expect(after[2]!.intent_id).toBe(result.transferId);
      // The subject-access report, the API view and the CSV export say what happened.
      const report2 = await subjectAccessReport(t.services.db, { organizationId: org.organizationId, subject: { kind: 'eventId', id: 'late-1' } });
      expect(report2.transfers).toEqual([
        expect.objectContaining({
          transferId: result.transferId,
          delivery: 'delivered_confirmed_later',
          resolution: expect.objectContaining({ verdict: 'took_effect' }),
        }),
      ]);
      const listed = await listTransfers(t.services.db, {
        scope: { organizationId: org.organizationId },
        filters: { outcomes: ['unknown', 'resolved'] },
        limit: 50,
      });
      const mine = listed.items.filter((i) => i.intentId === result.transferId).sort((a, b) => a.seq - b.seq);
      expect(mine.map((i) => [i.outcome, i.reason])).toEqual([
        ['unknown', null],
        ['resolved', 'took_effect'],
      ]);
      const csv = after.map((r) => csvLine(rowToEntry(r))).join('');
      expect(csv).toMatch(/,resolved,/);
      expect(csv).toMatch(/took_effect/);
    } finally {
      provider.setDelay(0);
    }
  });

  it('logs a connection that could not be made as not_sent ("could not connect"), never as unknown', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/api`;
    await new Promise<void>((r) => closed.close(() => r()));
    const result = await put('refused-1', 2000, deadUrl);
    expect(result).toMatchObject({ outcome: 'failed', logged: 'not_sent' });
    const rows = await rowsOf(result.transferId);
    expect(rows.map((r) => r.outcome)).toEqual(['intent', 'not_sent']);
    expect(rows[1]!.error_message).toMatch(/could not connect \(the request was not sent\)/);
  });

  it('logs a provider error answer as failed with its status', async () => {
    const result = await t.services.gate.send(jobCtx(connectionId), item('bad-1'), async () => {
      const res = await client(2000).request({ method: 'POST', path: 'nowhere', body: {} });
      return { value: null, status: res.status };
    });
    expect(result).toMatchObject({ outcome: 'failed', logged: 'failed' });
    const rows = await rowsOf(result.transferId);
    expect(rows.map((r) => [r.outcome, r.provider_status])).toEqual([
      ['intent', null],
      ['failed', 503],
    ]);
  });

  it('leaves no row for items a caller aborts or skips before they leave, and a not_sent row when perform refuses to send', async () => {
    const before = (await logRows(t.services, org.organizationId)).length;
    const abort = new AbortController();
    let calls = 0;
    const results = await t.services.gate.sendMany(
      jobCtx(connectionId),
      [item('a-1'), item('a-2'), item('a-3'), item('a-4')],
      async (_f, _item, i) => {
        calls++;
        if (i === 0) abort.abort('rate_limited');
        if (i === 1) throw Object.assign(new Error('not sent: the account is paused'), { code: 'not_sent_rate_limited' });
        return { value: null, status: 200 };
      },
      { concurrency: 1, signal: abort.signal },
    );
    expect(calls).toBe(1);
    expect(results.map((r) => (r.outcome === 'failed' ? `${r.logged}` : r.outcome))).toEqual(['sent', 'not_sent', 'not_sent', 'not_sent']);
    const rows = (await logRows(t.services, org.organizationId)).slice(before);
    // a-1 left; the intents of a-2 and a-3 had been written ahead (with a-1's) and say `not_sent`; a-4
    // never got an intent and has no row at all.
    expect(rows.map((r) => `${r.item_key}:${r.outcome}`)).toEqual(['a-1:intent', 'a-2:intent', 'a-3:intent', 'a-1:sent', 'a-2:not_sent', 'a-3:not_sent']);
    expect(rows[4]).toMatchObject({ intent_id: rows[1]!.id, reason: 'rate_limited' });

    const skipped = await t.services.gate.sendMany(
      jobCtx(connectionId),
      [item('s-1'), item('s-2')],
      async (_f, _item, i) => {
        if (i === 1) throw Object.assign(new Error('not sent: Google had just asked to slow down'), { code: 'not_sent_rate_limited' });
        return { value: null, status: 200 };
      },
      { concurrency: 1, beforeSend: (it) => (it.itemKey === 's-1' ? 'account_paused' : null) },
    );
    expect(skipped[0]).toMatchObject({ outcome: 'failed', logged: 'not_sent' });
    expect(skipped[1]).toMatchObject({ outcome: 'failed', logged: 'not_sent' });
    const more = (await logRows(t.services, org.organizationId)).slice(before + 6);
    expect(more.map((r) => `${r.item_key}:${r.outcome}`)).toEqual(['s-2:intent', 's-2:not_sent']);
  });

  it('makes none of the calls whose intents could not be written', async () => {
    await sql`CREATE FUNCTION refuse_intents() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.outcome = 'intent' AND NEW.item_key LIKE 'dbdown-%' THEN RAISE EXCEPTION 'database refused the intent'; END IF; RETURN NEW; END $$`.execute(
      t.services.db,
    );
    await sql`CREATE TRIGGER refuse_intents BEFORE INSERT ON transfer_log FOR EACH ROW EXECUTE FUNCTION refuse_intents()`.execute(t.services.db);
    const calls: string[] = [];
    try {
      await expect(
        t.services.gate.sendMany(jobCtx(connectionId), [item('dbdown-1'), item('dbdown-2'), item('dbdown-3')], async (_f, it) => {
          calls.push(it.itemKey!);
          return { value: null, status: 200 };
        }),
      ).rejects.toThrow(/database refused the intent/);
    } finally {
      await sql`DROP TRIGGER refuse_intents ON transfer_log`.execute(t.services.db);
      await sql`DROP FUNCTION refuse_intents()`.execute(t.services.db);
    }
    expect(calls).toEqual([]);
    expect((await logRows(t.services, org.organizationId)).filter((r) => r.item_key?.startsWith('dbdown-'))).toEqual([]);
  });

  it('an unexpected error mid-chunk logs the intents written ahead for calls that never started as not_sent at once', async () => {
    const before = (await logRows(t.services, org.organizationId)).length;
    const keys = ['mid-0', 'mid-1', 'mid-2', 'mid-3', 'mid-4', 'mid-5'];
    await expect(
      t.services.gate.sendMany(jobCtx(connectionId), keys.map(item), putEach, {
        concurrency: 2,
        // The caller's own code fails while the chunk's first calls are out (their intents and the
        // next ones' were written ahead).
        beforeSend: (it) => {
          if (it.itemKey === 'mid-2') throw new Error('the engine failed');
          return null;
        },
      }),
    ).rejects.toThrow(/the engine failed/);
    const rows = (await logRows(t.services, org.organizationId)).slice(before);
    const intents = rows.filter((r) => r.outcome === 'intent');
    const outcomeOf = (id: string) => rows.filter((r) => r.intent_id === id).map((r) => `${r.outcome}:${r.reason ?? ''}`);
    // Every intent has its outcome right away: `sent` for the calls that left, `not_sent` for those that
    // never started — nothing is left for the recovery job to guess about.
    const byKey = Object.fromEntries(intents.map((r) => [r.item_key, outcomeOf(r.id)]));
    expect(byKey['mid-0']).toEqual(['sent:']);
    expect(byKey['mid-1']).toEqual(['sent:']);
    expect(intents.length).toBeGreaterThan(2);
    for (const r of intents.filter((r) => !['mid-0', 'mid-1'].includes(r.item_key!))) {
      expect(provider.ledger.has(r.item_key!)).toBe(false);
      expect(byKey[r.item_key!]).toEqual(['not_sent:chunk_failed']);
    }
    expect((await recoverOpenTransfers(t.services, { organizationId: org.organizationId, now: Date.now() + 60_000, settleMs: 0 })).markedUnknown).toEqual([]);
  });

  it('a database error writing a batch of outcomes mid-chunk stops the chunk; calls never started are not_sent, started ones without an outcome are resolved', async () => {
    await sql`CREATE FUNCTION refuse_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.outcome = 'sent' AND NEW.item_key = 'batch-3' THEN RAISE EXCEPTION 'database refused the outcome'; END IF; RETURN NEW; END $$`.execute(
      t.services.db,
    );
    await sql`CREATE TRIGGER refuse_outcomes BEFORE INSERT ON transfer_log FOR EACH ROW EXECUTE FUNCTION refuse_outcomes()`.execute(t.services.db);
    const before = (await logRows(t.services, org.organizationId)).length;
    // More items than one batch of outcomes, so a batch is written while the chunk's calls go on.
    const keys = Array.from({ length: 300 }, (_, i) => `batch-${i}`);
    try {
      await expect(t.services.gate.sendMany(jobCtx(connectionId), keys.map(item), putEach, { concurrency: 4 })).rejects.toThrow(/database refused the outcome/);
    } finally {
      await sql`DROP TRIGGER refuse_outcomes ON transfer_log`.execute(t.services.db);
      await sql`DROP FUNCTION refuse_outcomes()`.execute(t.services.db);
    }
    const rows = (await logRows(t.services, org.organizationId)).slice(before);
    const intents = rows.filter((r) => r.outcome === 'intent');
    const written = keys.filter((k) => provider.ledger.has(k));
    // The chunk stopped: not every item left. Every call that left has an intent (written before it).
    expect(written.length).toBeLessThan(keys.length);
    expect(intents.map((r) => r.item_key).sort()).toEqual(expect.arrayContaining(written.sort()));
    const outcomes = new Map(rows.filter((r) => r.intent_id).map((r) => [r.intent_id, r]));
    const open = intents.filter((r) => !outcomes.has(r.id));
    // Intents without an outcome belong to calls that left (their outcome batch was refused); an intent
    // whose call never started says so at once.
    expect(open.length).toBeGreaterThan(0);
    for (const r of open) expect(provider.ledger.has(r.item_key!)).toBe(true);
    for (const r of intents.filter((r) => !provider.ledger.has(r.item_key!))) expect(outcomes.get(r.id)).toMatchObject({ outcome: 'not_sent' });
    // The recovery job turns the open ones into unknown and resolves each as having taken effect.
    const report = await recoverOpenTransfers(t.services, { organizationId: org.organizationId, now: Date.now() + 60_000, settleMs: 0 });
    expect(report.markedUnknown.sort()).toEqual(open.map((r) => r.id).sort());
    expect(report.resolved.filter((r) => r.verdict !== 'took_effect')).toEqual([]);
    expect(report.resolved.length).toBe(open.length);
  });

  it('after a database error writing outcomes (or a crash), the recovery job turns the open intents into unknown and resolves each', async () => {
    await sql`CREATE FUNCTION refuse_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.outcome = 'sent' AND NEW.item_key LIKE 'lost-%' THEN RAISE EXCEPTION 'database refused the outcome'; END IF; RETURN NEW; END $$`.execute(
      t.services.db,
    );
    await sql`CREATE TRIGGER refuse_outcomes BEFORE INSERT ON transfer_log FOR EACH ROW EXECUTE FUNCTION refuse_outcomes()`.execute(t.services.db);
    try {
      await expect(t.services.gate.sendMany(jobCtx(connectionId), [item('lost-1'), item('lost-2')], putEach)).rejects.toThrow(/database refused the outcome/);
    } finally {
      await sql`DROP TRIGGER refuse_outcomes ON transfer_log`.execute(t.services.db);
      await sql`DROP FUNCTION refuse_outcomes()`.execute(t.services.db);
    }
    // An intent of a call that never happened (the process died between the intent and the call).
    const ghost = await (t.services.gate as OutboundGateImpl).log.append([ghostIntent(org, connectionId)]);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.item_key?.startsWith('lost-') || r.item_key === 'ghost-1');
    expect(rows.map((r) => r.outcome)).toEqual(['intent', 'intent', 'intent']);
    // Not yet past the lease deadline: left alone.
    expect((await recoverOpenTransfers(t.services, { organizationId: org.organizationId, settleMs: 0 })).markedUnknown).toEqual([]);
    const report = await recoverOpenTransfers(t.services, { organizationId: org.organizationId, now: Date.now() + 60_000, settleMs: 0 });
    expect(report.markedUnknown.sort()).toEqual(rows.map((r) => r.id).sort());
    const verdicts = Object.fromEntries(report.resolved.map((r) => [r.transferId, r.verdict]));
    expect(verdicts[rows[0]!.id]).toBe('took_effect');
    expect(verdicts[rows[1]!.id]).toBe('took_effect');
    expect(verdicts[ghost[0]!.id]).toBe('did_not_take_effect');
    // Nothing is left open, and a second run finds nothing to do.
    const again = await recoverOpenTransfers(t.services, { organizationId: org.organizationId, now: Date.now() + 60_000, settleMs: 0 });
    expect(again).toEqual({ markedUnknown: [], resolved: [], pending: [] });
    const verify = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(verify.ok).toBe(true);
    expect(verify.organizations[0]!.outcomes).toMatchObject({ open: 0, unresolved: 0 });
    expect(verify.organizations[0]!.outcomes.tookEffect).toBeGreaterThanOrEqual(3);
    expect(verify.organizations[0]!.outcomes.didNotTakeEffect).toBeGreaterThanOrEqual(1);
  });
});

function ghostIntent(org: SeededOrg, connectionId: string) {
  return {
    id: crypto.randomUUID(),
    organizationId: org.organizationId,
    direction: 'outbound' as const,
    userId: org.member.id,
    connectionId,
    platform: PLATFORM,
    recipientAccount: 'someone@example.test',
    recipientDestination: 'cal-1',
    subjects: { eventIds: ['ghost-1'] },
    categories: ['calendar.events'],
    fieldNames: ['title'],
    purpose: 'calendar_sync',
    consentId: null,
    consentVersion: null,
    payloadSha256: null,
    payloadBytes: null,
    actor: { kind: 'job', jobId: 'j', queue: 'sync' },
    operation: 'update',
    itemKey: 'ghost-1',
    intentId: null,
    outcome: 'intent' as const,
    providerStatus: null,
    remoteId: null,
    durationMs: null,
    reason: null,
    errorClass: null,
    errorMessage: null,
    requesterIp: null,
    requesterUserAgent: null,
    createdAt: new Date(),
  };
}
