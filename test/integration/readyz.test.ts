import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/demo/private-redis.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/** Starts a private redis-server and waits until it answers (it owns nothing else's data). */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const { Redis } = await import('ioredis');
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return child;
    } catch {
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('/readyz', () => {
  let port: number;
  let redis: ChildProcess;
  let t: TestServices;

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    t = await createTestServices({ REDIS_URL: `redis://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await t.cleanup();
    await stop(redis);
  });

  it('answers 503 with checks.redis unreachable while Redis is down, and recovers when it is back', async () => {
    const ok = await t.app.request('/readyz');
    expect(ok.status).toBe(200);

    await stop(redis);
    const down = await t.app.request('/readyz');
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'not_ready', checks: { database: 'ok', redis: 'unreachable' } });
    expect((await t.app.request('/healthz')).status).toBe(200);

    redis = await startRedis(port);
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await t.app.request('/readyz')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
  });
});
