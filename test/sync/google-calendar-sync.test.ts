import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import { calendarStore } from '../../sandbox/google/calendar.ts';
import { caseWithEvents, createSyncEnv, eventItem, GOOGLE_ACCOUNT, type SyncEnv } from './support/env.ts';

/**
 * End to end over real HTTP, Redis, BullMQ workers and the sandbox: connect Google Calendar through
 * the OAuth flow, ingest 200 events, and check that the calendar holds exactly those with only the
 * consented fields; then that 10 changes make exactly 10 writes, 5 deletions 5 deletes, and an
 * unchanged reconcile no provider call at all; and that the transfer log and the provider's ledger
 * agree write for write.
 */

let env: SyncEnv;
let connectionId: string;
let calendarId: string;

beforeAll(async () => {
  env = await createSyncEnv();
  await env.startWorkers();
  connectionId = await env.connect();
  calendarId = await env.calendarId(connectionId);
  await env.waitIdle();
});
afterAll(async () => env.close());

async function eventIdsByExternal(): Promise<Map<string, string>> {
  const rows = await env.t.services.db.selectFrom('case_events').select(['id', 'external_id']).execute();
  return new Map(rows.map((r) => [r.external_id, r.id]));
}

describe('Google Calendar sync', () => {
  it('connects: the account is recorded, the dedicated calendar exists, tokens are not shown', async () => {
    const view = await env.connection(connectionId);
    expect(view.status).toBe('active');
    expect(view.account).toBe(GOOGLE_ACCOUNT);
    expect(calendarId).toMatch(/@group\.calendar\.google\.com$/);
    const cal = calendarStore(env.sandbox.state).calendars.get(calendarId)!;
    expect([cal.owner, cal.summary]).toEqual([GOOGLE_ACCOUNT, 'Cases']);
    const text = JSON.stringify(view);
    for (const t of env.sandbox.state.tokens.keys()) expect(text).not.toContain(t);
    const stored = await env.t.services.db.selectFrom('connection_tokens').selectAll().where('connection_id', '=', connectionId).executeTakeFirstOrThrow();
    for (const t of env.sandbox.state.tokens.keys()) expect(stored.ciphertext).not.toContain(t);
  });

  it('syncs 200 ingested events: exactly those, once each, with only the consented fields', async () => {
    const before = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    await env.ingest(caseWithEvents({ caseId: 'c1', assignee: env.org.member.email, n: 200 }));
    await env.waitIdle();
    const ids = await eventIdsByExternal();
    const live = env.liveEvents(calendarId);
    expect(live).toHaveLength(200);
    expect(new Set(live.map((e) => e.id))).toEqual(new Set([...ids.values()].map((id) => googleEventId(connectionId, id))));
    const writes = env.writes(before);
    expect(writes).toHaveLength(200);
    expect(writes.every((w) => w.method === 'POST')).toBe(true);

    // Only calendar.events was consented: no description, no participant names, no attendees.
    for (const e of live) {
      expect(e.description).toBeUndefined();
      expect(e.attendees).toBeUndefined();
      expect(JSON.stringify(e)).not.toMatch(/Witness|strategy/);
      expect(e.summary).toMatch(/^PI-c1: Hearing \d+$/);
      expect((e.extendedProperties as { private: Record<string, string> }).private.casebridgeConnectionId).toBe(connectionId);
    }
    // All-day deadline: date values with an exclusive end; timed: wall time in the event's zone.
    const deadline = live.find((e) => e.id === googleEventId(connectionId, ids.get('c1-ev-27')!))!;
    expect([deadline.start, deadline.end]).toEqual([{ date: '2026-12-28' }, { date: '2026-12-29' }]);
    const timed = live.find((e) => e.id === googleEventId(connectionId, ids.get('c1-ev-1')!))!;
    expect(timed.start).toEqual({ dateTime: '2026-03-02T09:00:00-05:00', timeZone: 'America/New_York' });

    const view = await env.connection(connectionId);
    expect(view.counts).toEqual({ synced: 200, pending: 0, errors: 0 });
    expect(view.lastSyncAt).not.toBeNull();
    expect((view.progress as { state: string; done: { created: number } }).state).toBe('idle');
  });

  it('a burst of changes makes one job per connection, and exactly 10 writes for 10 changed events', async () => {
    const before = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    // Ten separate ingests (ten change notifications) while workers run: one reconcile per connection suffices.
    for (let i = 0; i < 10; i++) await env.ingest([eventItem('c1', i * 7, 'Moved hearing')]);
    await env.waitIdle();
    const writes = env.writes(before);
    expect(writes).toHaveLength(10);
    expect(writes.every((w) => w.method === 'PATCH')).toBe(true);
    const live = env.liveEvents(calendarId);
    expect(live.filter((e) => String(e.summary).includes('Moved hearing'))).toHaveLength(10);
    expect(live).toHaveLength(200);
  });

  it('deleting 5 events makes exactly 5 deletes', async () => {
    const before = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    await env.ingest([1, 2, 3, 4, 5].map((i) => ({ op: 'delete', type: 'event', externalId: `c1-ev-${i}` })));
    await env.waitIdle();
    const writes = env.writes(before);
    expect(writes.map((w) => w.method)).toEqual(['DELETE', 'DELETE', 'DELETE', 'DELETE', 'DELETE']);
    expect(env.liveEvents(calendarId)).toHaveLength(195);
    expect((await env.connection(connectionId)).counts).toMatchObject({ synced: 195 });
  });

  it('a reconcile with nothing changed makes no provider call at all', async () => {
    const before = env.sandbox.state.ledger.length;
    await env.t.services.queues.enqueueSync(connectionId, 'manual');
    await env.waitIdle();
    expect(env.sandbox.state.ledger.length).toBe(before);
    const progress = (await env.connection(connectionId)).progress as { providerCalls: number; unchanged: number };
    expect(progress).toMatchObject({ providerCalls: 0, unchanged: 195 });
  });

  it('drift repair: a full reconcile restores an event the user deleted or edited in Google', async () => {
    const store = calendarStore(env.sandbox.state);
    const [a, b] = env.liveEvents(calendarId);
    // The user's own edits in Google (not through Casebridge).
    store.events.get(calendarId)!.get(a!.id)!.resource.status = 'cancelled';
    const evB = store.events.get(calendarId)!.get(b!.id)!;
    evB.resource.summary = 'Edited by hand';
    evB.resource.etag = '"999999"';
    await env.t.services.queues.enqueueSync(connectionId, 'full');
    await env.waitIdle();
    const live = env.liveEvents(calendarId);
    expect(live).toHaveLength(195);
    expect(live.find((e) => e.id === b!.id)!.summary).not.toBe('Edited by hand');
    expect((await env.connection(connectionId)).lastFullSyncAt).not.toBeNull();
  });

  it('every provider write has a transfer-log row, and every sent row has its write', async () => {
    const writes = env.sandbox.state.ledger.filter((e) => e.write && e.provider === 'google');
    const fromLedger = writes.map((w) => (w.object as { id: string }).id).sort();
    const rows = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['remote_id', 'provider_status', 'operation'])
      .where('connection_id', '=', connectionId)
      .where('outcome', '=', 'sent')
      .where('direction', '=', 'outbound')
      .execute();
    // A delete answered 404/410 (already gone) is "sent" without a write: none happened here.
    expect(rows.every((r) => r.provider_status !== null && r.provider_status < 300)).toBe(true);
    expect(rows.map((r) => r.remote_id!).sort()).toEqual(fromLedger);
    expect(writes.every((w) => w.account === GOOGLE_ACCOUNT)).toBe(true);
  });

  it('shows description and participant names once calendar.events.details is consented (second connection)', async () => {
    const second = await env.connect({
      categories: ['calendar.events', 'calendar.events.details'],
      settings: { calendarName: 'Cases (details)', deadlineReminders: true },
    });
    await env.waitIdle();
    const cal = await env.calendarId(second);
    expect(cal).not.toBe(calendarId);
    const live = env.liveEvents(cal);
    expect(live).toHaveLength(195);
    const ids = await eventIdsByExternal();
    const e = live.find((x) => x.id === googleEventId(second, ids.get('c1-ev-6')!))!;
    expect(e.description).toBe('Confidential strategy note 6\n\nParticipants: Witness 6');
    expect(e.reminders).toEqual({ useDefault: false, overrides: [{ method: 'popup', minutes: 1440 }] });
    expect(calendarStore(env.sandbox.state).calendars.get(cal)!.summary).toBe('Cases (details)');
  });
});
