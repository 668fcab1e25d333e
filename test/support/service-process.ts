import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../../src/config/load.ts';
import { freePort } from '../../src/demo/private-redis.ts';

const MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');

/** A `src/main.ts` process (the real entry, run by tsx) of the test's services. */
export interface ServiceProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** The last 32 kB of its stdout and stderr (for failure messages). */
  output(): string;
}

/**
 * Starts `node --import tsx src/main.ts <role>` on the test's database (its PostgreSQL schema, via
 * DATABASE_SCHEMA), Redis prefix, data directory and sandbox, and resolves once /healthz answers.
 * `env` adds or overrides variables. Needs PostgreSQL (an embedded PGlite cannot be shared).
 */
export async function startServiceProcess(params: {
  role: 'api' | 'worker' | 'all';
  config: Config;
  env?: Record<string, string>;
  /** Extra node options before the entry (e.g. `--cpu-prof`, which NODE_OPTIONS does not allow). */
  nodeArgs?: string[];
  timeoutMs?: number;
}): Promise<ServiceProcess> {
  const { config } = params;
  if (config.database.kind !== 'postgres') throw new Error('service processes need PostgreSQL (TEST_DATABASE_URL)');
  const port = await freePort();
  const child = spawn(process.execPath, [...(params.nodeArgs ?? []), '--import', 'tsx', MAIN, params.role], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: config.database.url,
      DATABASE_SCHEMA: config.database.schema ?? '',
      REDIS_URL: config.REDIS_URL,
      REDIS_PREFIX: config.REDIS_PREFIX,
      DATA_DIR: config.DATA_DIR,
      PUBLIC_BASE_URL: config.PUBLIC_BASE_URL,
      ...(config.SANDBOX_URL ? { SANDBOX_URL: config.SANDBOX_URL } : {}),
      GOOGLE_USER_RATE_PER_MINUTE: String(config.GOOGLE_USER_RATE_PER_MINUTE),
      GOOGLE_PROJECT_RATE_PER_MINUTE: String(config.GOOGLE_PROJECT_RATE_PER_MINUTE),
      SYNC_JOB_LOCK_SECONDS: String(config.SYNC_JOB_LOCK_SECONDS),
      ...params.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + String(d)).slice(-32768);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (params.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${params.role} process exited (${child.exitCode}) before it was up: ${out}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, url, exited, output: () => out };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${params.role} process did not answer /healthz in time: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
