import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoContext, type DemoStep, demoSteps, runDemo } from '../../src/demo/main.ts';
import { freePort } from '../../src/demo/private-redis.ts';

/**
 * `npm run demo` with DEMO_EXIT_AFTER_SETUP semantics, in process: a private redis-server when none
 * answers at REDIS_URL, the sample seeded into an on-disk PGlite, the service answering, everything
 * stopped afterwards; a second run adds nothing.
 */
describe('demo', () => {
  let dir: string;
  let deadRedisPort: number;
  const probes: Array<{ health: number; cases: number }> = [];

  /** Runs while the demo is up: the service answers and the API key from the summary works. */
  const probe: DemoStep = {
    name: 'probe',
    async run(ctx: DemoContext) {
      const health = (await fetch(`${ctx.running!.url}/healthz`)).status;
      const key = ctx.seed!.organizations[0]!.apiKey;
      const res = await fetch(`${ctx.running!.url}/v1/ingest/cases/hk-case-001`, { headers: { authorization: `Bearer ${key}` } });
      const body = (await res.json()) as { number?: string };
      probes.push({ health, cases: body.number ? 1 : 0 });
    },
  };
  const run = () =>
    runDemo({
      steps: [...demoSteps, probe],
      env: { DATA_DIR: dir, DATABASE_URL: undefined, REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`, PORT: '0', LOG_LEVEL: 'silent' },
      exitAfterSetup: true,
      output: () => {},
    });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-demo-'));
    deadRedisPort = await freePort();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('starts a private Redis, seeds the sample firms, serves them, and stops everything', async () => {
    const ctx = await run();
    const redisLine = ctx.summary.find((s) => s.heading === 'Redis')!.lines[0]!;
    expect(redisLine).toContain('private redis-server');
    const pid = Number(/pid (\d+)/.exec(redisLine)![1]);
    expect(() => process.kill(pid, 0)).toThrow(); // stopped with the demo
    expect(ctx.running!.server.listening).toBe(false);

    const [hartmann, brennan] = ctx.seed!.organizations;
    expect(hartmann!.name).toBe('Hartmann & Keller Personal Injury');
    const total = (type: 'case' | 'document' | 'contact') => hartmann!.records[type].created + brennan!.records[type].created;
    expect([total('case'), total('document'), total('contact')]).toEqual([20, 40, 100]);
    expect(hartmann!.users.created + brennan!.users.created).toBe(12);
    expect(probes[0]).toEqual({ health: 200, cases: 1 });
    expect(fs.existsSync(path.join(dir, 'pglite'))).toBe(true);
  }, 180_000);

  it('adds nothing when run again on the same data', async () => {
    const ctx = await run();
    for (const org of ctx.seed!.organizations) {
      expect(org.users.created).toBe(0);
      for (const counts of Object.values(org.records)) {
        expect(counts.created).toBe(0);
        expect(counts.updated).toBe(0);
      }
    }
    expect(probes[1]).toEqual({ health: 200, cases: 1 });
  }, 180_000);
});
