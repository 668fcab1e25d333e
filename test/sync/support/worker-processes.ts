import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import type { SyncEnv } from './env.ts';

/** The PostgreSQL the worker processes share with the test (TEST_DATABASE_URL, or the local server). */
export const WORKER_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Whether that PostgreSQL answers. When it does, TEST_DATABASE_URL is set to it, so the test's own
 * services use the same database as the worker processes (PGlite cannot be shared between processes).
 */
export async function workerDatabaseReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: WORKER_PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
  } catch {
    return false;
  }
  process.env.TEST_DATABASE_URL = WORKER_PG_URL;
  return true;
}

const CHILD = path.resolve(import.meta.dirname, 'worker-process.ts');

/**
 * Sync worker processes (separate OS processes running `worker-process.ts`) on the test's database
 * schema, Redis prefix and sandbox; `killAll()` ends any still running (for `afterAll`).
 */
export function workerProcesses(env: () => SyncEnv) {
  const children: ChildProcess[] = [];
  return {
    /** Starts one worker process and resolves once it says it is ready. */
    start(): Promise<ChildProcess> {
      const { config } = env().t;
      const schema = config.database.kind === 'postgres' ? (config.database.schema ?? '') : '';
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
        env: {
          ...process.env,
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          DATABASE_URL: WORKER_PG_URL,
          CB_TEST_SCHEMA: schema,
          CB_TEST_CHUNK: '10',
          REDIS_URL: config.REDIS_URL,
          REDIS_PREFIX: config.REDIS_PREFIX,
          DATA_DIR: config.DATA_DIR,
          SANDBOX_URL: config.SANDBOX_URL!,
          PUBLIC_BASE_URL: config.PUBLIC_BASE_URL,
          SYNC_JOB_LOCK_SECONDS: '2',
          GOOGLE_USER_RATE_PER_MINUTE: '60000',
          GOOGLE_PROJECT_RATE_PER_MINUTE: '600000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      return new Promise((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d) => {
          err += String(d);
        });
        child.stdout!.on('data', (d) => {
          if (String(d).includes('ready')) resolve(child);
        });
        child.once('exit', (code) => reject(new Error(`worker process exited (${code}) before it was ready: ${err.slice(-2000)}`)));
      });
    },
    killAll(): void {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    },
  };
}

/** Polls `check` every 50 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
