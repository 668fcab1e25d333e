import { createApiKey } from '../src/auth/api-keys.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import { type ServiceProcess, startServiceProcess } from '../test/support/service-process.ts';
import { createIsolatedServices } from '../test/support/services.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { sandboxCall, startSandboxProcess, waitIdle } from './sync.bench.ts';

/**
 * Sync throughput with 1, 2 and 3 worker processes (`src/main.ts worker`, separate OS processes) on
 * one Redis and one PostgreSQL, the sandbox (no quotas, no latency) in its own process: CONNECTIONS
 * Google connections, EVENTS new events each, ingested at once; measured from the ingest until
 * every insert reached the sandbox and the queue is idle, after an untimed warm-up batch. Reported: provider writes/s per worker
 * count and the ratio 3 processes / 1 process. On a two-core machine the goal is no loss (≥ 0.9):
 * the provider's latency, not our CPU, is what more processes overlap. Needs PostgreSQL
 * (TEST_DATABASE_URL or the local server). BENCH_SCALE_EVENTS / BENCH_SCALE_CONNECTIONS size it.
 */

const CONNECTIONS = Number(process.env.BENCH_SCALE_CONNECTIONS ?? 6);
const EVENTS = Number(process.env.BENCH_SCALE_EVENTS ?? 150);
/** Untimed first events per connection, so every process's JIT is warm before the measured batch. */
const WARMUP = 30;
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function round(sandboxUrl: string, workerCount: number): Promise<{ writesPerSecond: number; writes: number; seconds: number }> {
  const { services, config, cleanup } = await createIsolatedServices({
    pgUrl: PG_URL,
    tag: 'scale',
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      PUBLIC_BASE_URL: 'http://localhost:3000',
      SANDBOX_URL: sandboxUrl,
      GOOGLE_USER_RATE_PER_MINUTE: '1000000',
      GOOGLE_PROJECT_RATE_PER_MINUTE: '100000000',
    },
  });
  const workers: ServiceProcess[] = [];
  try {
    const org = await services.db.insertInto('organizations').values({ name: 'Scale Firm', settings: '{}' }).returning('id').executeTakeFirstOrThrow();
    const { apiKey } = await createApiKey(services.db, { organizationId: org.id, name: 'scale' });
    for (let i = 0; i < workerCount; i++) workers.push(await startServiceProcess({ role: 'worker', config, env: { LOG_LEVEL: 'error' } }));
    const api = await startServiceProcess({ role: 'api', config, env: { LOG_LEVEL: 'error' } });
    workers.push(api);
    const tag = `${workerCount}w${Date.now().toString(36)}`;
    const users: string[] = [];
    for (let n = 0; n < CONNECTIONS; n++) {
      const email = `lawyer${n}@scale.example`;
      const account = `scale${tag}-${n}@gmail.example`;
      const user = await services.db
        .insertInto('users')
        .values({ organization_id: org.id, email, name: email, role: 'member', picture_url: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await sandboxCall(sandboxUrl, '/_sandbox/accounts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: account,
          name: email,
          sub: `4${String(workerCount)}${String(Date.now()).slice(-8)}${String(n).padStart(4, '0')}`,
          emailVerified: true,
        }),
      });
      const { id, session } = await services.sessions.create({ userId: user.id, organizationId: org.id, role: 'member', method: 'test' });
      const headers = { cookie: `${SESSION_COOKIE}=${id}`, [CSRF_HEADER]: session.csrfToken };
      const res = await fetch(`${api.url}/v1/connections`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ platform: 'google_calendar', categories: ['calendar.events'], caseScope: { kind: 'all' }, loginHint: account }),
      });
      if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
      const { authorizationUrl } = (await res.json()) as { authorizationUrl: string };
      const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
      const cb = await fetch(`${api.url}${back.pathname}${back.search}`, { headers: { ...headers, accept: 'application/json' } });
      if (cb.status !== 200) throw new Error(`callback: ${cb.status}`);
      users.push(email);
    }
    await waitIdle(services.queues.sync);
    const inserts = async () =>
      (
        await sandboxCall<{ entries: Array<{ method: string; path: string; account: string | null }> }>(
          sandboxUrl,
          '/_sandbox/ledger?provider=google&writes=true',
        )
      ).entries.filter((e) => e.method === 'POST' && e.path.endsWith('/events') && e.account?.includes(tag)).length;
    const batch = (from: number, n: number): unknown[] => {
      const items: unknown[] = [];
      for (const [c, email] of users.entries()) {
        items.push({ op: 'upsert', type: 'case', externalId: `c${c}`, data: { number: `S-${c}`, title: `Case ${c}`, assignees: [email] } });
        for (let i = from; i < from + n; i++) {
          const day = String(1 + (i % 28)).padStart(2, '0');
          items.push({
            op: 'upsert',
            type: 'event',
            externalId: `c${c}-${i}`,
            data: {
              caseExternalId: `c${c}`,
              kind: 'court_date',
              title: `Hearing ${i}`,
              start: `2026-06-${day}T09:00:00Z`,
              end: `2026-06-${day}T10:00:00Z`,
              timeZone: 'UTC',
            },
          });
        }
      }
      return items;
    };
    const send = async (items: unknown[]) => {
      const res = await fetch(`${api.url}/v1/ingest/bulk`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items }),
      });
      if (res.status !== 200) throw new Error(`ingest: ${res.status}`);
    };
    // Warm-up (untimed): every process compiles its hot paths on a first small batch.
    await send(batch(0, WARMUP));
    while ((await inserts()) < CONNECTIONS * WARMUP) await new Promise((r) => setTimeout(r, 100));
    await waitIdle(services.queues.sync);
    const before = await inserts();
    const started = Date.now();
    await send(batch(WARMUP, EVENTS));
    const want = CONNECTIONS * EVENTS;
    while ((await inserts()) - before < want) await new Promise((r) => setTimeout(r, 100));
    await waitIdle(services.queues.sync);
    const seconds = (Date.now() - started) / 1000;
    return { writesPerSecond: want / seconds, writes: want, seconds };
  } finally {
    for (const w of workers) {
      w.child.kill('SIGTERM');
      await Promise.race([w.exited, new Promise((r) => setTimeout(r, 8000))]);
      if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
    await cleanup();
  }
}

export const workerScalingBenchmark: Benchmark = {
  name: 'worker scaling',
  async run(): Promise<BenchResult[]> {
    const sandbox = await startSandboxProcess();
    try {
      const rates = new Map<number, { writesPerSecond: number; writes: number; seconds: number }>();
      for (const n of [1, 2, 3]) {
        process.stderr.write(`  ${n} worker process(es)...\n`);
        rates.set(n, await round(sandbox.url, n));
      }
      const one = rates.get(1)!.writesPerSecond;
      return [2, 3].map((n) => {
        const r = rates.get(n)!;
        const ratio = r.writesPerSecond / one;
        return {
          name: `sync throughput, ${n} worker processes vs 1`,
          unit: 'provider writes/s',
          subject: r.writesPerSecond,
          baseline: one,
          ratio,
          ratioMeaning: `${n} processes / 1 process`,
          goal: '≥ 0.9 on two cores (no loss)',
          met: ratio >= 0.9,
          extra: { connections: CONNECTIONS, eventsPerConnection: EVENTS, seconds: r.seconds, oneProcessSeconds: rates.get(1)!.seconds },
        };
      });
    } finally {
      await sandbox.close();
    }
  },
};

if (process.argv[1]?.endsWith('worker-scaling.bench.ts')) {
  const results = await workerScalingBenchmark.run();
  console.log(JSON.stringify(results, null, 2));
  process.exit(0);
}
