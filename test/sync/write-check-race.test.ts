import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGoogleCalendar } from '../../connectors/google-calendar/client.ts';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import { INSERT_MET_EXISTING, TRANSFER_PROPERTY } from '../../connectors/google-calendar/write-check.ts';
import { connectorFor } from '../../connectors/registry.ts';
import { connectionTokens, tokensOfConnection } from '../../src/connections/token-access.ts';
import type { OutboundGateImpl } from '../../src/transfers/gate.ts';
import { gateScope } from '../../src/transfers/gate-scope.ts';
import { type ChainedEntry, rowToEntry, type TransferLogEntry } from '../../src/transfers/log-entry.ts';
import { resolveTransfer } from '../../src/transfers/resolution.ts';
import { caseWithEvents, createSyncEnv, eventItem, type SyncEnv } from './support/env.ts';

/**
 * The Google write check against a late landing that races the retry (issue 14). A create whose answer
 * never came (`unknown`) is retried by a later transfer; the first insert reaches Google after the retry
 * began but before the retry's insert, so the event's creation time is after the retry's intent and
 * the retry's insert meets it (409 → PATCH). Reading only timestamps, the check said the first call
 * `did_not_take_effect` — yet Google's ledger holds its insert. The retry's `sent` row now records that
 * its insert met the event (`insert_met_existing`), and the check credits the late call.
 */

let env: SyncEnv;
let connectionId: string;
let calendarId: string;

beforeAll(async () => {
  env = await createSyncEnv();
  await env.startWorkers();
  connectionId = await env.connect();
  await env.waitIdle();
  calendarId = await env.calendarId(connectionId);
});
afterAll(async () => env.close());

async function caseEventId(externalId: string): Promise<string> {
  const row = await env.t.services.db
    .selectFrom('case_events')
    .select('id')
    .where('organization_id', '=', env.org.organizationId)
    .where('external_id', '=', externalId)
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * A write reaching Google the way a held request does: with the connection's token, ledgered; stamped
 * with a transfer id as the sync stamps its writes (unstamped: an event written before stamps).
 */
async function landInsert(eventId: string, title: string, options: { stamp?: string; patch?: boolean } = {}): Promise<void> {
  const oauth = connectorFor('google_calendar')!.oauth!;
  const tokens = tokensOfConnection(connectionTokens(env.t.services, oauth, 'google_calendar'), connectionId);
  const api = openGoogleCalendar({ config: env.t.services.config, accessToken: await tokens.accessToken() });
  const body = {
    summary: title,
    start: { date: '2027-01-04' },
    end: { date: '2027-01-05' },
    ...(options.stamp ? { extendedProperties: { private: { [TRANSFER_PROPERTY]: options.stamp } } } : {}),
  };
  await gateScope.run({ transferId: randomUUID(), connectionId, purpose: 'test_late_landing' }, () =>
    options.patch ? api.patchEvent(calendarId, eventId, body) : api.insertEvent(calendarId, { id: eventId, ...body }),
  );
}

async function rowsOfItem(itemKey: string) {
  return (
    await env.t.services.db
      .selectFrom('transfer_log')
      .selectAll()
      .where('connection_id', '=', connectionId)
      .where('item_key', '=', itemKey)
      .orderBy('seq')
      .execute()
  ).map(rowToEntry);
}

describe('the Google write check and a late landing that races the retry', () => {
  it('records on the sent row that a create met the event already at Google (409 → PATCH)', async () => {
    await env.workers!.close();
    await env.ingest(caseWithEvents({ caseId: 'met', assignee: env.org.member.email, n: 2 }));
    const [first, second] = [await caseEventId('met-ev-0'), await caseEventId('met-ev-1')];
    // The first event is already at Google with its deterministic id (a call of a killed worker landed).
    await landInsert(googleEventId(connectionId, first), 'landed earlier');
    await env.startWorkers();
    await env.waitIdle();
    const sent = async (id: string) => (await rowsOfItem(`event:${id}`)).filter((r) => r.outcome === 'sent');
    expect((await sent(first)).map((r) => r.reason)).toEqual([INSERT_MET_EXISTING]);
    expect((await sent(second)).map((r) => r.reason)).toEqual([null]);
    // Each write names its transfer (the intent id of its sent row) in the event's private properties.
    for (const id of [first, second]) {
      const event = env.liveEvents(calendarId).find((e) => e.id === googleEventId(connectionId, id)) as {
        extendedProperties?: { private?: Record<string, string> };
      };
      expect(event.extendedProperties?.private?.[TRANSFER_PROPERTY]).toBe((await sent(id))[0]!.intentId);
    }
  });

  // Log rows of one item, written as the gate writes them (no worker runs meanwhile: nothing else writes these items).
  const itemLog = async (externalId: string) => {
    await env.ingest([eventItem('met', Number(externalId.split('-ev-')[1]))]);
    const id = await caseEventId(externalId);
    const itemKey = `event:${id}`;
    const log = (env.t.services.gate as OutboundGateImpl).log;
    const entry = (outcome: TransferLogEntry['outcome'], extra: Partial<TransferLogEntry> = {}): TransferLogEntry => ({
      id: randomUUID(),
      organizationId: env.org.organizationId,
      direction: 'outbound',
      userId: env.org.member.id,
      connectionId,
      platform: 'google_calendar',
      recipientAccount: 'alice@hartmann-law.example',
      recipientDestination: calendarId,
      subjects: { eventIds: [id] },
      categories: ['calendar.events'],
      fieldNames: ['title'],
      purpose: 'calendar_sync',
      consentId: null,
      consentVersion: null,
      payloadSha256: 'ab'.repeat(32),
      payloadBytes: 17,
      actor: { kind: 'job', jobId: 'race', queue: 'sync' },
      operation: 'create',
      itemKey,
      intentId: null,
      outcome,
      providerStatus: null,
      remoteId: null,
      durationMs: null,
      reason: null,
      errorClass: null,
      errorMessage: null,
      requesterIp: null,
      requesterUserAgent: null,
      createdAt: new Date(),
      ...extra,
    });
    const tick = () => new Promise((r) => setTimeout(r, 20));
    return {
      eventId: googleEventId(connectionId, id),
      /** An intent, then (after a tick) how its call ended, if given. */
      async call(operation: 'create' | 'update', ended?: { outcome: 'sent' | 'unknown' | 'not_sent'; reason?: string }) {
        const intent = entry('intent', { operation });
        await log.append([intent]);
        await tick();
        if (ended)
          await log.append([
            entry(ended.outcome, { operation, intentId: intent.id, reason: ended.reason ?? null, providerStatus: ended.outcome === 'sent' ? 200 : null }),
          ]);
        return intent;
      },
      async end(intent: TransferLogEntry, ended: { outcome: 'sent' | 'unknown' | 'not_sent'; reason?: string }) {
        await log.append([entry(ended.outcome, { operation: intent.operation, intentId: intent.id, reason: ended.reason ?? null })]);
        await tick();
      },
      async verdict(intent: TransferLogEntry) {
        const chained = (await rowsOfItem(itemKey)).find((r) => r.id === intent.id) as ChainedEntry;
        return resolveTransfer(env.t.services, chained);
      },
    };
  };

  it('credits the late-landing create when the retry met its event, and not when the retry created it (unstamped events: timestamps)', async () => {
    await env.workers!.close();
    const scenario = async (externalId: string, lateLands: boolean) => {
      const item = await itemLog(externalId);
      // The first create: its answer never came. The retry begins; then the first insert lands (or
      // does not), then the retry's insert answers.
      const first = await item.call('create', { outcome: 'unknown' });
      const retry = await item.call('create');
      await landInsert(item.eventId, lateLands ? 'the late landing' : 'the retry');
      await item.end(retry, { outcome: 'sent', reason: lateLands ? INSERT_MET_EXISTING : undefined });
      return item.verdict(first);
    };
    expect(await scenario('met-ev-2', true)).toBe('took_effect');
    expect(await scenario('met-ev-3', false)).toBe('did_not_take_effect');
    await env.startWorkers();
    await env.waitIdle();
  });

  it('reads the stamp: the write Google holds is credited, an earlier answered one rules a later call out, and two calls that may have created the event are not both credited', async () => {
    await env.workers!.close();
    // An update whose answer never came, landing after a later transfer began (which never left):
    // timestamps cannot tell; the stamp names it.
    const a = await itemLog('met-ev-4');
    await landInsert(a.eventId, 'created', { stamp: randomUUID() });
    const update = await a.call('update', { outcome: 'unknown' });
    await a.call('update', { outcome: 'not_sent' });
    await landInsert(a.eventId, 'the late update', { stamp: update.id, patch: true });
    expect(await a.verdict(update)).toBe('took_effect');

    // An answered create, then an update that never got an answer and never landed.
    const b = await itemLog('met-ev-5');
    const created = await b.call('create');
    await landInsert(b.eventId, 'created', { stamp: created.id });
    await b.end(created, { outcome: 'sent' });
    const lost = await b.call('update', { outcome: 'unknown' });
    expect(await b.verdict(lost)).toBe('did_not_take_effect');

    // Two creates of unknown outcome (one landed, one never left), then a retry whose insert met the
    // event: either may have created it, so neither is credited (a killed worker's leftovers).
    const c = await itemLog('met-ev-6');
    const x = await c.call('create', { outcome: 'unknown' });
    const y = await c.call('create', { outcome: 'unknown' });
    await landInsert(c.eventId, 'x landed', { stamp: x.id });
    const z = await c.call('create');
    await landInsert(c.eventId, 'z patched', { stamp: z.id, patch: true });
    await c.end(z, { outcome: 'sent', reason: INSERT_MET_EXISTING });
    expect([await c.verdict(x), await c.verdict(y)]).toEqual(['unverifiable', 'unverifiable']);
    await env.startWorkers();
    await env.waitIdle();
  });
});
