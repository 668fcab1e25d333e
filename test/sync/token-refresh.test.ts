import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleCalendar } from '../../connectors/google-calendar/index.ts';
import { markReauthRequired } from '../../src/connections/lifecycle.ts';
import { createTokenAccess, ReauthRequiredError, vaultFor } from '../../src/connections/token-refresh.ts';
import { caseWithEvents, createSyncEnv, GOOGLE_ACCOUNT, type SyncEnv } from './support/env.ts';

/**
 * Token refresh against the sandbox's real token endpoint: ahead of expiry, exactly once however
 * many workers ask at the same time (Redis lock), keeping the refresh token Google does not resend;
 * with short-lived tokens a long reconcile keeps going; `invalid_grant` means re-authorization.
 */

let env: SyncEnv;
const TTL = 3;

beforeAll(async () => {
  env = await createSyncEnv({ sandbox: { accessTokenTtlSeconds: TTL } });
});
afterAll(async () => env.close());

const tokenCalls = () => env.sandbox.state.ledger.filter((e) => e.path === '/google/token').length;
const access = () =>
  createTokenAccess(env.t.services, {
    oauth: googleCalendar.oauth!,
    onReauthRequired: (id, message) => markReauthRequired(env.t.services, id, message).then(() => undefined),
  });

describe('token refresh', () => {
  it('refreshes ahead of expiry exactly once for many concurrent callers, keeping the refresh token', async () => {
    const connectionId = await env.connect();
    const vault = vaultFor(env.t.services);
    const before = (await vault.load(connectionId))!;
    expect(before.refreshToken).toBeTruthy();
    // Inside the refresh-ahead window (less than a quarter of the lifetime left), without waiting.
    const now = Date.now();
    await vault.save(connectionId, { ...before, obtainedAt: now - 2600, expiresAt: now + 400 });
    const calls = tokenCalls();
    // Three "workers", ten callers.
    const workers = [access(), access(), access()];
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => workers[i % 3]!.get(connectionId)));
    expect(tokenCalls() - calls).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(before.accessToken);
    const after = (await vault.load(connectionId))!;
    expect(after.accessToken).toBe(tokens[0]);
    expect(after.refreshToken).toBe(before.refreshToken); // Google sent none: the old one is kept
    expect(after.expiresAt! - after.obtainedAt).toBeLessThanOrEqual(TTL * 1000 + 1000);
    // A token that is fresh enough is used as is.
    expect(await access().get(connectionId)).toBe(tokens[0]);
    expect(tokenCalls() - calls).toBe(1);
  });

  it('after a 401, refreshes once even when several callers report the same rejected token', async () => {
    const connectionId = await env.connect();
    const vault = vaultFor(env.t.services);
    const stale = (await vault.load(connectionId))!.accessToken;
    const calls = tokenCalls();
    const a = access();
    const results = await Promise.all(Array.from({ length: 6 }, () => a.refreshAfterRejection(connectionId, stale)));
    expect(tokenCalls() - calls).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect(results[0]).not.toBe(stale);
  });

  it('keeps a long reconcile going with tokens that live only a few seconds', async () => {
    // Only this test's connection syncs (the earlier ones would write the same case again).
    await env.t.services.db.updateTable('connections').set({ status: 'paused' }).where('status', '=', 'active').execute();
    const connectionId = await env.connect();
    // Two requests at a time, 100 ms each: the run lasts several token lifetimes (≥ 6 s for 3 s tokens).
    await env.startWorkers({ sync: { chunkSize: 10, itemConcurrency: 2 } });
    const calls = tokenCalls();
    env.sandbox.state.addFault({ provider: 'google', kind: 'delay', delayMs: 100, method: 'POST', path: '/events$' });
    await env.ingest(caseWithEvents({ caseId: 'ttl', assignee: env.org.member.email, n: 120 }));
    await env.waitIdle(120_000);
    env.sandbox.state.faults = [];
    const calendarId = await env.calendarId(connectionId);
    expect(env.liveEvents(calendarId)).toHaveLength(120);
    expect(tokenCalls() - calls).toBeGreaterThanOrEqual(2);
    const view = await env.connection(connectionId);
    expect([view.status, view.lastError]).toEqual(['active', null]);
    await env.workers?.close();
    env.workers = null;
  }, 150_000);

  it('turns invalid_grant into reauth_required (once) and never retries', async () => {
    const connectionId = await env.connect();
    const vault = vaultFor(env.t.services);
    const t = (await vault.load(connectionId))!;
    await vault.save(connectionId, { ...t, expiresAt: Date.now() - 1 });
    env.sandbox.state.addFault({ provider: 'google', kind: 'invalid_grant', account: GOOGLE_ACCOUNT });
    const a = access();
    const outcomes = await Promise.allSettled([a.get(connectionId), a.get(connectionId), access().get(connectionId)]);
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof ReauthRequiredError)).toBe(true);
    const row = await env.t.services.db.selectFrom('connections').select(['status', 'last_error']).where('id', '=', connectionId).executeTakeFirstOrThrow();
    expect(row.status).toBe('reauth_required');
    expect(row.last_error?.message).toMatch(/Reconnect the account/);
    env.sandbox.state.faults = [];
  });
});
