import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectorFor } from '../../connectors/registry.ts';
import { createTokenAccess, ReauthRequiredError, vaultFor } from '../../src/connections/token-refresh.ts';
import { clearStateMetricsCache } from '../../src/observability/state-metrics.ts';
import { sealCheckpoints } from '../../src/transfers/checkpoints.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { caseWithEvents, createSyncEnv, eventItem, GOOGLE_ACCOUNT, type SyncEnv } from '../sync/support/env.ts';
import { type Scrape, scrape } from './support.ts';

/**
 * The operational metrics of issue 19, read the way Prometheus reads them — GET /metrics with the
 * metrics token — while a small sync runs against the sandbox Google emulator over real HTTP, with
 * real Redis, BullMQ workers and PostgreSQL: queue depth and oldest job age, sync lag, provider calls
 * by status and error class, rate-limit waits, token refresh failures, unknown outcomes open,
 * revocation times and checkpoint age.
 */

const METRICS_TOKEN = 'metrics-token-observability-0123456789abcdef';
const G = { platform: 'google_calendar' };

let env: SyncEnv;
let connectionId: string;

beforeAll(async () => {
  env = await createSyncEnv({ env: { METRICS_TOKEN } });
});
afterAll(async () => env?.close());

/** A fresh scrape (state gauges re-read, not served from their 5 s cache). */
async function metrics(): Promise<Scrape> {
  clearStateMetricsCache();
  return scrape(env.t, METRICS_TOKEN);
}

describe('metrics on /metrics', () => {
  it('queue depth and the age of the oldest waiting job, per queue', async () => {
    // No workers yet: connecting enqueues the first reconcile, and it waits.
    connectionId = await env.connect();
    await new Promise((r) => setTimeout(r, 1200));
    const waiting = await metrics();
    // The connect run (and the periodic full reconcile's first job).
    expect(waiting.value('casebridge_queue_jobs', { queue: 'sync', state: 'waiting' })).toBeGreaterThanOrEqual(1);
    expect(waiting.value('casebridge_queue_oldest_job_age_seconds', { queue: 'sync' })).toBeGreaterThanOrEqual(1.1);
    expect(waiting.value('casebridge_queue_oldest_job_age_seconds', { queue: 'sync' })).toBeLessThan(30);
    for (const queue of ['import', 'revoke', 'maintenance']) expect(waiting.has('casebridge_queue_jobs', { queue, state: 'waiting' })).toBe(true);

    await env.startWorkers();
    await env.waitIdle();
    const idle = await metrics();
    expect(idle.value('casebridge_queue_jobs', { queue: 'sync', state: 'waiting' })).toBe(0);
    expect(idle.value('casebridge_queue_oldest_job_age_seconds', { queue: 'sync' })).toBe(0);
  }, 90_000);

  it('sync lag of a change, and provider calls by platform and status class', async () => {
    const before = await metrics();
    const ledgerBefore = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    await env.ingest(caseWithEvents({ caseId: 'lag', assignee: env.org.member.email, n: 5 }));
    await env.waitIdle();
    const after = await metrics();
    const writes = env.writes(ledgerBefore);
    expect(writes).toHaveLength(5);
    // One gate call per event created, each answered 2xx.
    const ok = { ...G, status_class: '2xx', error_class: 'none' };
    expect(after.value('casebridge_provider_calls_total', ok) - before.value('casebridge_provider_calls_total', ok)).toBe(5);
    expect(after.value('casebridge_provider_call_duration_seconds_count', G) - before.value('casebridge_provider_call_duration_seconds_count', G)).toBe(5);
    // One change, one run: one lag observation, from the ingest to the end of its writes.
    expect(after.value('casebridge_sync_lag_seconds_count', G) - before.value('casebridge_sync_lag_seconds_count', G)).toBe(1);
    const lag = after.value('casebridge_sync_lag_seconds_sum', G) - before.value('casebridge_sync_lag_seconds_sum', G);
    expect(lag).toBeGreaterThan(0);
    expect(lag).toBeLessThan(30);
    // p95 is computable: the +Inf bucket holds it, a bounded one (≤ 30 s) too.
    expect(after.value('casebridge_sync_lag_seconds_bucket', { ...G, le: '30' })).toBe(after.value('casebridge_sync_lag_seconds_count', G));
    // The per-connection view is bounded (the slowest few) and names this connection.
    const slowest = after.matching('casebridge_sync_lag_slowest_seconds');
    expect(slowest.length).toBeGreaterThan(0);
    expect(slowest.length).toBeLessThanOrEqual(10);
    expect(slowest.map((s) => s.labels.connection_id)).toContain(connectionId);
  }, 90_000);

  it('rate-limit waits and 429s by error class', async () => {
    const before = await metrics();
    const fault = env.sandbox.state.addFault({
      provider: 'google',
      kind: 'status',
      status: 429,
      retryAfterSeconds: 1,
      path: '/events$',
      method: 'POST',
      times: 2,
    });
    await env.ingest([eventItem('lag', 100), eventItem('lag', 101), eventItem('lag', 102)]);
    await env.waitIdle();
    env.sandbox.state.faults = [];
    expect(fault.hits).toBe(2);
    const after = await metrics();
    const limited = { ...G, status_class: '4xx', error_class: 'rate_limited' };
    expect(after.value('casebridge_provider_calls_total', limited) - before.value('casebridge_provider_calls_total', limited)).toBe(2);
    const waits = { ...G, source: 'provider' };
    expect(
      after.value('casebridge_rate_limit_wait_seconds_count', waits) - before.value('casebridge_rate_limit_wait_seconds_count', waits),
    ).toBeGreaterThanOrEqual(1);
    expect(after.value('casebridge_rate_limit_wait_seconds_sum', waits) - before.value('casebridge_rate_limit_wait_seconds_sum', waits)).toBeGreaterThanOrEqual(
      1,
    );
  }, 90_000);

  it('unknown outcomes open: a call without an answer counts until it is resolved', async () => {
    const before = await metrics();
    const item: TransferItem = {
      operation: 'update',
      categories: ['calendar.events'],
      subjects: {},
      recipient: { account: GOOGLE_ACCOUNT, destination: 'calendar:primary' },
      fields: { title: 'x' },
      itemKey: 'metrics-test-item',
    };
    const lost = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const result = await env.t.services.gate.send(
      { connectionId, purpose: 'calendar_sync', actor: { kind: 'job', jobId: 'metrics-test', queue: 'sync' } },
      item,
      async () => {
        throw lost;
      },
    );
    expect(result).toMatchObject({ outcome: 'failed', logged: 'unknown' });
    const after = await metrics();
    expect(after.value('casebridge_transfer_unknown_open', G) - before.value('casebridge_transfer_unknown_open', G)).toBe(1);
    const lostCalls = { ...G, status_class: 'none', error_class: 'connection_lost' };
    expect(after.value('casebridge_provider_calls_total', lostCalls) - before.value('casebridge_provider_calls_total', lostCalls)).toBe(1);
    // Resolved (a `resolved` row appended): no longer open.
    const intent = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['id', 'organization_id', 'platform'])
      .where('id', '=', result.transferId)
      .executeTakeFirstOrThrow();
    const { recoverOpenTransfers } = await import('../../src/transfers/resolution.ts');
    await recoverOpenTransfers(env.t.services, { organizationId: intent.organization_id, settleMs: 0 });
    const resolved = await metrics();
    expect(resolved.value('casebridge_transfer_unknown_open', G)).toBe(before.value('casebridge_transfer_unknown_open', G));
  });

  it('checkpoint age: time the log has waited for a signed checkpoint, 0 once sealed', async () => {
    const open = await metrics();
    expect(open.value('casebridge_checkpoint_age_seconds')).toBeGreaterThan(0);
    expect(open.value('casebridge_checkpoint_age_seconds')).toBeLessThan(600);
    await sealCheckpoints(env.t.services);
    const sealed = await metrics();
    expect(sealed.value('casebridge_checkpoint_age_seconds')).toBe(0);
  });

  it('token refresh failures by platform and reason', async () => {
    const second = await env.connect();
    await env.waitIdle();
    const before = await metrics();
    const vault = vaultFor(env.t.services);
    const t = (await vault.load(second))!;
    await vault.save(second, { ...t, expiresAt: Date.now() - 1 });
    env.sandbox.state.addFault({ provider: 'google', kind: 'invalid_grant', account: GOOGLE_ACCOUNT, times: 1 });
    const access = createTokenAccess(env.t.services, {
      oauth: connectorFor('google_calendar')!.oauth!,
      onReauthRequired: async () => undefined,
      platform: 'google_calendar',
    });
    await expect(access.get(second)).rejects.toBeInstanceOf(ReauthRequiredError);
    env.sandbox.state.faults = [];
    const after = await metrics();
    const revoked = { ...G, reason: 'grant_revoked' };
    expect(after.value('casebridge_token_refresh_failures_total', revoked) - before.value('casebridge_token_refresh_failures_total', revoked)).toBe(1);
  }, 90_000);

  it('revocation: time to the 202 and to the signed receipt', async () => {
    const before = await metrics();
    const res = await env.t.app.request(`/v1/connections/${connectionId}`, { method: 'DELETE', headers: env.member });
    expect(res.status).toBe(202);
    const accepted = await metrics();
    expect(accepted.value('casebridge_revocation_accept_seconds_count') - before.value('casebridge_revocation_accept_seconds_count')).toBe(1);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const row = await env.t.services.db.selectFrom('revocations').select('completed_at').orderBy('created_at', 'desc').limit(1).executeTakeFirstOrThrow();
      if (row.completed_at) break;
      if (Date.now() > deadline) throw new Error('no receipt within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const sealed = await metrics();
    expect(sealed.value('casebridge_revocation_receipt_seconds_count') - before.value('casebridge_revocation_receipt_seconds_count')).toBe(1);
    const took = sealed.value('casebridge_revocation_receipt_seconds_sum') - before.value('casebridge_revocation_receipt_seconds_sum');
    expect(took).toBeGreaterThan(0);
    expect(took).toBeLessThan(30);
  }, 60_000);

  it('no label value carries a token or case data', async () => {
    const text = await (await env.t.app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    for (const token of env.sandbox.state.tokens.keys()) expect(text).not.toContain(token);
    expect(text).not.toContain(METRICS_TOKEN);
    expect(text).not.toContain(GOOGLE_ACCOUNT);
    expect(text).not.toMatch(/Hearing|PI-lag/);
  });
});
