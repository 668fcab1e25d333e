import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transitionConnections } from '../../src/connections/state-machine.ts';
import { revocationEpochKey } from '../../src/consent/service.ts';
import type { ConnectionStatus } from '../../src/db/types.ts';
import { insertConnection } from '../privacy/helpers.ts';
import { type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/** The lifecycle against real PostgreSQL/PGlite and Redis: what moves, what is refused, what the gate sees. */

let t: TestServices;
let org: SeededOrg;

beforeAll(async () => {
  t = await createTestServices();
  org = await seedOrg(t.services);
});
afterAll(async () => t.cleanup());

const connection = (status: ConnectionStatus) => insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id, status });
const statusOf = async (id: string) =>
  await t.services.db.selectFrom('connections').select(['status', 'revoked_at', 'last_error']).where('id', '=', id).executeTakeFirstOrThrow();
const epochOf = async (id: string) => Number((await t.services.redis.get(revocationEpochKey(t.services.config.REDIS_PREFIX, id))) ?? 0);

describe('connection state machine (database)', () => {
  it('moves an allowed transition, records its facts and bumps the epoch the gate reads', async () => {
    const id = await connection('active');
    const before = await epochOf(id);
    const moved = await transitionConnections(t.services, {
      ids: [id],
      to: 'reauth_required',
      lastError: { code: 'reauth_required', message: 'sign in again', at: new Date().toISOString() },
    });
    expect(moved).toEqual([id]);
    const row = await statusOf(id);
    expect(row.status).toBe('reauth_required');
    expect(row.last_error).toMatchObject({ code: 'reauth_required' });
    expect(await epochOf(id)).toBe(before + 1);
  });

  it('refuses a transition the lifecycle does not allow: nothing written, no epoch bump', async () => {
    const revoked = await connection('revoked');
    const paused = await connection('paused');
    const epochs = [await epochOf(revoked), await epochOf(paused)];
    expect(await transitionConnections(t.services, { ids: [revoked], to: 'active' })).toEqual([]);
    expect(await transitionConnections(t.services, { ids: [paused], to: 'reauth_required' })).toEqual([]);
    expect((await statusOf(revoked)).status).toBe('revoked');
    expect((await statusOf(paused)).status).toBe('paused');
    expect([await epochOf(revoked), await epochOf(paused)]).toEqual(epochs);
  });

  it('revokes a mixed batch, moving only the live connections and stamping revoked_at', async () => {
    const live = await connection('active');
    const pending = await connection('pending');
    const gone = await connection('revoked');
    const at = new Date('2026-12-01T10:00:00Z');
    const moved = await transitionConnections(t.services, { ids: [live, pending, gone], to: 'revoked', at });
    expect(moved.sort()).toEqual([live, pending].sort());
    expect((await statusOf(live)).revoked_at?.toISOString()).toBe(at.toISOString());
    expect((await statusOf(gone)).revoked_at).toBeNull();
  });
});
