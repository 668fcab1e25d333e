import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGoogleCalendar } from '../../connectors/google-calendar/client.ts';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import { INSERT_MET_EXISTING } from '../../connectors/google-calendar/write-check.ts';
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

/** An insert reaching Google the way a held request does: with the connection's token, ledgered. */
async function landInsert(eventId: string, title: string): Promise<void> {
  const oauth = connectorFor('google_calendar')!.oauth!;
  const tokens = tokensOfConnection(connectionTokens(env.t.services, oauth, 'google_calendar'), connectionId);
  const api = openGoogleCalendar({ config: env.t.services.config, accessToken: await tokens.accessToken() });
  await gateScope.run({ transferId: randomUUID(), connectionId, purpose: 'test_late_landing' }, () =>
    api.insertEvent(calendarId, { id: eventId, summary: title, start: { date: '2027-01-04' }, end: { date: '2027-01-05' } }),
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
  });

  it('credits the late-landing create when the retry met its event, and not when the retry created it', async () => {
    const log = (env.t.services.gate as OutboundGateImpl).log;
    // No worker: nothing but this scenario writes these items.
    await env.workers!.close();
    const scenario = async (externalId: string, lateLands: boolean) => {
      await env.ingest([eventItem('met', Number(externalId.split('-ev-')[1]))]);
      const id = await caseEventId(externalId);
      const itemKey = `event:${id}`;
      const eventId = googleEventId(connectionId, id);
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
      // The first create: its answer never came.
      const first = entry('intent');
      await log.append([first]);
      await log.append([entry('unknown', { intentId: first.id, errorClass: 'timeout', errorMessage: 'timed out' })]);
      await new Promise((r) => setTimeout(r, 20));
      // The retry begins; then the first insert lands (or does not), then the retry's insert answers.
      const retry = entry('intent');
      await log.append([retry]);
      await new Promise((r) => setTimeout(r, 20));
      await landInsert(eventId, lateLands ? 'the late landing' : 'the retry');
      await log.append([entry('sent', { intentId: retry.id, providerStatus: 200, remoteId: eventId, reason: lateLands ? INSERT_MET_EXISTING : null })]);
      const intent = (await rowsOfItem(itemKey)).find((r) => r.id === first.id) as ChainedEntry;
      return resolveTransfer(env.t.services, intent);
    };
    expect(await scenario('met-ev-2', true)).toBe('took_effect');
    expect(await scenario('met-ev-3', false)).toBe('did_not_take_effect');
    await env.startWorkers();
    await env.waitIdle();
  });
});
