import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type GoogleCalendarApi, openGoogleCalendar, ProviderHttpError } from '../../connectors/google-calendar/client.ts';
import { calendarStore, googleCalendarEmulator } from '../../sandbox/google/calendar.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { loadConfig } from '../../src/config/load.ts';
import { gateScope, UngatedTransferError } from '../../src/transfers/gate-scope.ts';

/**
 * The Calendar v3 emulator, driven by the official @googleapis/calendar client (through the gated
 * client factory, rootUrl = the sandbox origin): id rules, 409 for existing and cancelled ids,
 * ETag/If-Match, cancelled-not-deleted, paging, sync tokens, scopes, bearer checks, faults, ledger.
 */

const ACCOUNT = 'alice@hartmann-law.example';
const APP_CREATED = 'openid email https://www.googleapis.com/auth/calendar.app.created';
const EVENTS = 'openid email https://www.googleapis.com/auth/calendar.events';

let sandbox: Sandbox;
let config: ReturnType<typeof loadConfig>;

const inGate = <T>(fn: () => Promise<T>) => gateScope.run({ transferId: 't', connectionId: 'c', purpose: 'test' }, fn);

function token(scope = APP_CREATED, ttlSeconds?: number): string {
  return sandbox.state.issueToken({
    provider: 'google',
    account: ACCOUNT,
    clientId: 'casebridge-dev',
    scope,
    kind: 'access',
    family: `fam-${Math.random()}`,
    ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
  });
}

function api(accessToken = token()): GoogleCalendarApi {
  return openGoogleCalendar({ config, accessToken });
}

async function failure(p: Promise<unknown>): Promise<ProviderHttpError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderHttpError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

const timed = (id: string) => ({
  id,
  summary: 'Hearing',
  start: { dateTime: '2026-03-02T09:00:00-05:00', timeZone: 'America/New_York' },
  end: { dateTime: '2026-03-02T10:00:00-05:00', timeZone: 'America/New_York' },
});

beforeAll(async () => {
  sandbox = await startSandbox([googleCalendarEmulator], { port: 0 });
  config = loadConfig({ NODE_ENV: 'test', SANDBOX_URL: sandbox.url, LOG_LEVEL: 'silent' });
});
afterAll(async () => sandbox.close());
beforeEach(() => sandbox.state.reset());

describe('sandbox Google Calendar v3 through the official client', () => {
  it('refuses to be used outside the outbound gate', async () => {
    await expect(api().insertCalendar({ summary: 'x' })).rejects.toBeInstanceOf(UngatedTransferError);
    expect(sandbox.state.ledger).toHaveLength(0);
  });

  it('creates a secondary calendar and events with client-supplied base32hex ids', async () => {
    const a = api();
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    expect(cal.id).toMatch(/@group\.calendar\.google\.com$/);
    const { event } = await inGate(() => a.insertEvent(cal.id, timed('abcdefghij0123456789')));
    expect(event.id).toBe('abcdefghij0123456789');
    expect(event.etag).toMatch(/^"\d+"$/);
    expect(event.start).toEqual({ dateTime: '2026-03-02T09:00:00-05:00', timeZone: 'America/New_York' });
    const got = await inGate(() => a.getEvent(cal.id, event.id!));
    expect(got.event.summary).toBe('Hearing');
    const writes = sandbox.state.ledger.filter((e) => e.write);
    expect(writes.map((w) => [w.method, w.account])).toEqual([
      ['POST', ACCOUNT],
      ['POST', ACCOUNT],
    ]);
    expect((writes[1]!.object as { id: string }).id).toBe('abcdefghij0123456789');
  });

  it('rejects ids outside a-v0-9 or shorter than 5 characters', async () => {
    const a = api();
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    for (const bad of ['abcw1', 'ABCDE', 'abcd', 'abc-defgh', 'x'.repeat(10)]) {
      const err = await failure(inGate(() => a.insertEvent(cal.id, timed(bad))));
      expect(err.status).toBe(400);
    }
    expect(calendarStore(sandbox.state).eventsOf(cal.id)).toHaveLength(0);
  });

  it('answers 409 duplicate for an existing id, also once the event is cancelled, and an update restores it', async () => {
    const a = api();
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    await inGate(() => a.insertEvent(cal.id, timed('dup0000001')));
    expect((await failure(inGate(() => a.insertEvent(cal.id, timed('dup0000001'))))).reason).toBe('duplicate');
    await inGate(() => a.deleteEvent(cal.id, 'dup0000001'));
    const after = await inGate(() => a.getEvent(cal.id, 'dup0000001'));
    expect(after.event.status).toBe('cancelled');
    const again = await failure(inGate(() => a.insertEvent(cal.id, timed('dup0000001'))));
    expect([again.status, again.reason]).toEqual([409, 'duplicate']);
    expect((await failure(inGate(() => a.deleteEvent(cal.id, 'dup0000001')))).status).toBe(410);
    const restored = await inGate(() => a.patchEvent(cal.id, 'dup0000001', { status: 'confirmed', summary: 'Back' }));
    expect(restored.event.status).toBe('confirmed');
    expect(
      calendarStore(sandbox.state)
        .liveEventsOf(cal.id)
        .map((e) => e.summary),
    ).toEqual(['Back']);
  });

  it('checks If-Match against the ETag (412 on a stale one)', async () => {
    const a = api();
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    const { event } = await inGate(() => a.insertEvent(cal.id, timed('etag000001')));
    const first = await inGate(() => a.patchEvent(cal.id, 'etag000001', { summary: 'One' }, { etag: event.etag! }));
    expect(first.event.etag).not.toBe(event.etag);
    const stale = await failure(inGate(() => a.patchEvent(cal.id, 'etag000001', { summary: 'Two' }, { etag: event.etag! })));
    expect(stale.status).toBe(412);
    expect((await inGate(() => a.getEvent(cal.id, 'etag000001'))).event.summary).toBe('One');
  });

  it('pages, hides cancelled events unless showDeleted, and returns nextSyncToken on the last page only', async () => {
    const a = api();
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    for (let i = 0; i < 7; i++) await inGate(() => a.insertEvent(cal.id, timed(`page00000${i}`)));
    await inGate(() => a.deleteEvent(cal.id, 'page000003'));
    const ids: string[] = [];
    let pageToken: string | undefined;
    let syncToken: string | null = null;
    let pages = 0;
    do {
      const page = await inGate(() => a.listEvents(cal.id, { maxResults: 3, ...(pageToken ? { pageToken } : {}) }));
      pages += 1;
      ids.push(...page.items.map((e) => e.id!));
      if (page.nextPageToken) expect(page.nextSyncToken).toBeNull();
      pageToken = page.nextPageToken ?? undefined;
      syncToken = page.nextSyncToken;
    } while (pageToken);
    expect(pages).toBe(2);
    expect(ids).toHaveLength(6);
    expect(ids).not.toContain('page000003');
    expect(syncToken).toBeTruthy();
    const withDeleted = await inGate(() => a.listEvents(cal.id, { showDeleted: true }));
    expect(withDeleted.items.find((e) => e.id === 'page000003')?.status).toBe('cancelled');

    // Incremental: only what changed since the token, deleted items included.
    await inGate(() => a.patchEvent(cal.id, 'page000001', { summary: 'Moved' }));
    await inGate(() => a.deleteEvent(cal.id, 'page000002'));
    const delta = await inGate(() => a.listEvents(cal.id, { syncToken: syncToken! }));
    expect(delta.items.map((e) => [e.id, e.status]).sort()).toEqual([
      ['page000001', 'confirmed'],
      ['page000002', 'cancelled'],
    ]);
    const bad = await failure(inGate(() => a.listEvents(cal.id, { syncToken: 'not-a-token' })));
    expect([bad.status, bad.reason]).toEqual([410, 'fullSyncRequired']);
  });

  it('keeps all-day dates as dates and refuses an empty time range', async () => {
    const a = api();
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    const { event } = await inGate(() =>
      a.insertEvent(cal.id, { id: 'deadline01', summary: 'Deadline', start: { date: '2026-12-31' }, end: { date: '2027-01-01' } }),
    );
    expect([event.start, event.end]).toEqual([{ date: '2026-12-31' }, { date: '2027-01-01' }]);
    const err = await failure(
      inGate(() => a.insertEvent(cal.id, { id: 'deadline02', summary: 'x', start: { date: '2026-12-31' }, end: { date: '2026-12-31' } })),
    );
    expect(err.status).toBe(400);
  });

  it('limits calendar.app.created to calendars the same client created, and calendar.events to events', async () => {
    const appCreated = api(token(APP_CREATED));
    expect((await failure(inGate(() => appCreated.insertEvent('primary', timed('prim000001'))))).status).toBe(403);
    const events = api(token(EVENTS));
    expect((await failure(inGate(() => events.insertCalendar({ summary: 'Nope' })))).status).toBe(403);
    const { event } = await inGate(() => events.insertEvent('primary', timed('prim000002')));
    expect(event.id).toBe('prim000002');
  });

  it('answers 401 for missing, unknown, expired and revoked tokens, and for the expire/revoke faults', async () => {
    const cal = await inGate(() => api().insertCalendar({ summary: 'Cases' }));
    expect((await failure(inGate(() => api('sbx_at_unknown').getCalendar(cal.id)))).status).toBe(401);
    expect((await failure(inGate(() => api(token(APP_CREATED, -1)).getCalendar(cal.id)))).status).toBe(401);
    const revoked = token();
    sandbox.state.revokeFamily(revoked);
    expect((await failure(inGate(() => api(revoked).getCalendar(cal.id)))).status).toBe(401);

    const live = token();
    sandbox.state.addFault({ provider: 'google', kind: 'expire_tokens', times: 1 });
    expect((await failure(inGate(() => api(live).getCalendar(cal.id)))).status).toBe(401);
    expect((await failure(inGate(() => api(live).getCalendar(cal.id)))).status).toBe(401); // stays expired
    const fresh = token();
    expect((await inGate(() => api(fresh).getCalendar(cal.id))).id).toBe(cal.id);
  });

  it('answers quota faults with 403 rateLimitExceeded and Retry-After', async () => {
    const a = api();
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    sandbox.state.addFault({ provider: 'google', kind: 'quota', limit: 2, windowSeconds: 60, retryAfterSeconds: 7, path: '/events' });
    await inGate(() => a.insertEvent(cal.id, timed('quota00001')));
    await inGate(() => a.insertEvent(cal.id, timed('quota00002')));
    const err = await failure(inGate(() => a.insertEvent(cal.id, timed('quota00003'))));
    expect([err.status, err.reason, err.retryAfterMs]).toEqual([403, 'rateLimitExceeded', 7000]);
    sandbox.state.addFault({ provider: 'google', kind: 'status', status: 429, times: 1, retryAfterSeconds: 2 });
    const e429 = await failure(inGate(() => a.getCalendar(cal.id)));
    expect([e429.status, e429.retryAfterMs]).toEqual([429, 2000]);
  });

  it('deletes a secondary calendar but never the primary one', async () => {
    const a = api(token(`${APP_CREATED} https://www.googleapis.com/auth/calendar`));
    const cal = await inGate(() => a.insertCalendar({ summary: 'Cases' }));
    await inGate(() => a.deleteCalendar(cal.id));
    expect((await failure(inGate(() => a.getCalendar(cal.id)))).status).toBe(404);
    expect((await failure(inGate(() => a.deleteCalendar('primary')))).status).toBe(400);
  });
});
