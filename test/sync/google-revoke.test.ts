import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleCalendar } from '../../connectors/google-calendar/index.ts';
import { connectorFor } from '../../connectors/registry.ts';
import type { RevokeContext } from '../../connectors/types.ts';
import { calendarStore } from '../../sandbox/google/calendar.ts';
import { revokeContextFor } from '../../src/revocation/revoke-context.ts';
import { caseWithEvents, createSyncEnv, GOOGLE_ACCOUNT, type SyncEnv } from './support/env.ts';

/**
 * The Google connector's provider-side revocation, as the revocation pipeline calls it (connection
 * already `revoked`): optional purge of what was synced, then the token revoked at Google.
 */

let env: SyncEnv;

beforeAll(async () => {
  env = await createSyncEnv();
  await env.startWorkers();
});
afterAll(async () => env.close());

async function revokedContext(connectionId: string, purgeRemote: boolean): Promise<RevokeContext> {
  const row = await env.t.services.db
    .updateTable('connections')
    .set({ status: 'revoked', revoked_at: new Date() })
    .where('id', '=', connectionId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return revokeContextFor(env.t.services, connectorFor(row.platform)!, row, purgeRemote);
}

describe('Google Calendar revoke', () => {
  it('deletes the dedicated calendar it created and revokes the grant at Google', async () => {
    await env.t.services.db.updateTable('connections').set({ status: 'paused' }).where('status', '=', 'active').execute();
    const id = await env.connect();
    await env.ingest(caseWithEvents({ caseId: 'rv1', assignee: env.org.member.email, n: 5 }));
    await env.waitIdle();
    const calendarId = await env.calendarId(id);
    const steps = await googleCalendar.revoke(await revokedContext(id, true));
    expect(steps).toEqual([
      expect.objectContaining({ step: 'purge_remote', result: 'done', removedItems: 5 }),
      expect.objectContaining({ step: 'provider_revoke', result: 'done', providerStatus: 200 }),
    ]);
    expect(calendarStore(env.sandbox.state).calendars.has(calendarId)).toBe(false);
    const google = [...env.sandbox.state.tokens.values()].filter((t) => t.account === GOOGLE_ACCOUNT);
    expect(google.filter((t) => !t.revoked).length).toBeLessThan(google.length);
    const purge = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['operation', 'outcome', 'purpose'])
      .where('connection_id', '=', id)
      .where('purpose', '=', 'revocation_purge')
      .execute();
    expect(purge.map((r) => `${r.operation}:${r.outcome}`).sort()).toEqual(['delete:intent', 'delete:sent']);
  });

  it('in a calendar the user chose, deletes only the synced events; a second revoke finds the grant already gone', async () => {
    await env.t.services.db.updateTable('connections').set({ status: 'paused' }).where('status', '=', 'active').execute();
    const id = await env.connect({ settings: { calendarId: 'primary' } });
    await env.ingest(caseWithEvents({ caseId: 'rv2', assignee: env.org.member.email, n: 4 }));
    await env.waitIdle();
    const store = calendarStore(env.sandbox.state);
    // The user's own event in the same calendar must survive.
    store.events.get(GOOGLE_ACCOUNT)!.set('mine00000001', {
      calendarId: GOOGLE_ACCOUNT,
      seq: 0,
      resource: { id: 'mine00000001', status: 'confirmed', etag: '"1"', summary: 'Dentist', start: { date: '2026-05-01' }, end: { date: '2026-05-02' } },
    });
    const synced = (await env.t.services.db.selectFrom('sync_state').select('item_key').where('connection_id', '=', id).execute()).length;
    expect(synced).toBe(9); // both cases of the member: rv1 (5) and rv2 (4)
    const ctx = await revokedContext(id, true);
    const steps = await googleCalendar.revoke(ctx);
    expect(steps[0]).toMatchObject({ step: 'purge_remote', result: 'done', removedItems: 9 });
    expect(store.liveEventsOf(GOOGLE_ACCOUNT).map((e) => e.summary)).toEqual(['Dentist']);
    expect(store.calendars.has(GOOGLE_ACCOUNT)).toBe(true);
    const again = await googleCalendar.revoke({ ...ctx, purgeRemote: false });
    expect(again).toEqual([expect.objectContaining({ step: 'provider_revoke', result: 'done', providerStatus: 400 })]);
  });
});
