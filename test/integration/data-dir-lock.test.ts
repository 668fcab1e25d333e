import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataDirLock, DataDirLockedError, LOCK_FILE, type LockHolder } from '../../src/db/data-dir-lock.ts';
import { openDatabase } from '../../src/db/database.ts';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
/** Each spawn loads TypeScript through tsx and opens an on-disk PGlite: seconds each on a busy machine. */
const SLOW = 420_000;

/** The pid of a process that has certainly exited (a child that ran and was reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

function writeLock(dir: string, holder: Partial<LockHolder>): void {
  fs.mkdirSync(dir, { recursive: true });
  const full: LockHolder = { pid: 1, host: os.hostname(), command: 'test', startedAt: new Date().toISOString(), token: randomUUID(), ...holder };
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(full));
}

describe('data directory lock (in process)', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-lock-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('writes the holder (pid, host, command, start time) and refuses a second acquisition while held', () => {
    const dir = tempDir();
    const lock = acquireDataDirLock(dir, { command: 'casebridge api' });
    const written = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as LockHolder;
    expect(written).toMatchObject({ pid: process.pid, host: os.hostname(), command: 'casebridge api' });
    expect(Date.parse(written.startedAt)).toBeGreaterThan(Date.now() - 60_000);
    let refused: unknown;
    try {
      acquireDataDirLock(dir);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as DataDirLockedError).holder?.pid).toBe(process.pid);
    expect((refused as Error).message).toContain(`process ${process.pid} on host ${os.hostname()} ("casebridge api"`);
    lock.release();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    acquireDataDirLock(dir).release();
    expect(fs.readdirSync(dir)).toEqual([]); // no draft or stale files left behind
  });

  it('takes over a lock whose holder died on this host', () => {
    const dir = tempDir();
    const pid = deadPid();
    writeLock(dir, { pid, command: 'src/main.ts api' });
    const lock = acquireDataDirLock(dir);
    expect(lock.holder.pid).toBe(process.pid);
    expect((JSON.parse(fs.readFileSync(lock.file, 'utf8')) as LockHolder).pid).toBe(process.pid);
    lock.release();
  });

  it('takes over a lock written before a reboot, even when its pid is alive again', () => {
    const dir = tempDir();
    writeLock(dir, { pid: process.ppid, bootId: 'an-earlier-boot' });
    const onLinux = fs.existsSync('/proc/sys/kernel/random/boot_id');
    if (onLinux) acquireDataDirLock(dir).release();
    else expect(() => acquireDataDirLock(dir)).toThrow(DataDirLockedError);
  });

  it('never presumes a holder on another host dead, and refuses an unreadable lock', () => {
    const dir = tempDir();
    writeLock(dir, { pid: deadPid(), host: 'another-host.example' });
    expect(() => acquireDataDirLock(dir)).toThrow(/on host another-host\.example/);
    fs.writeFileSync(path.join(dir, LOCK_FILE), '{not json');
    expect(() => acquireDataDirLock(dir)).toThrow(/its lock file cannot be read/);
  });

  it('release() leaves alone a lock that is no longer its own', () => {
    const dir = tempDir();
    const lock = acquireDataDirLock(dir);
    writeLock(dir, { pid: process.ppid, token: 'someone-else' });
    lock.release();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(true);
  });

  it(
    'an in-memory PGlite takes no lock; an on-disk one holds it until closed',
    async () => {
      const memory = await openDatabase({ kind: 'pglite', dataDir: null });
      await memory.close();
      const dir = path.join(tempDir(), 'pglite');
      const database = await openDatabase({ kind: 'pglite', dataDir: dir });
      try {
        expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(true);
        await expect(openDatabase({ kind: 'pglite', dataDir: dir })).rejects.toBeInstanceOf(DataDirLockedError);
      } finally {
        await database.close();
      }
      expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    },
    SLOW,
  );
});

/**
 * Real processes: the service (`src/main.ts api`) on an embedded database, and the CLI beside it.
 * Redis is the shared test server under a random prefix.
 */
describe('data directory lock (a running service and the CLI)', () => {
  let dir: string;
  let service: ChildProcess | null = null;
  const prefix = `cblock-${randomUUID().slice(0, 8)}`;
  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH,
    DATA_DIR: dir,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    LOG_LEVEL: 'info',
    ...extra,
  });
  const cli = async (args: string[], extra: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['bin/casebridge.mjs', ...args], { cwd: root, env: env(extra), timeout: SLOW });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const orgNames = async (): Promise<string[]> => {
    const res = await cli(['org', 'list', '--json']);
    expect(res.code, res.stderr).toBe(0);
    return (JSON.parse(res.stdout) as { organizations: { name: string }[] }).organizations.map((o) => o.name);
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-lock-svc-'));
  });
  afterEach(() => {
    if (service?.exitCode === null) service.kill('SIGKILL');
    service = null;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Starts the API on a free port and resolves once it listens. */
  const startService = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'api'], { cwd: root, env: env({ PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('casebridge started')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`the service exited (${code}) before listening:\n${output}`)));
    });
    return child;
  };

  it(
    'refuses the CLI next to a running service, naming the holder and what to do, and writes nothing',
    async () => {
      expect(await orgNames()).toEqual([]); // creates and migrates the database first (fast service start)
      service = await startService();
      const refused = await cli(['org', 'create', '--name', 'Never Written LLP']);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain(`in use by process ${service.pid} on host ${os.hostname()} ("src/main.ts api", started `);
      expect(refused.stderr).toContain("use the running service's API");
      expect(refused.stderr).toContain('stop that process');
      expect(refused.stderr).toContain('DATABASE_URL');
      expect(refused.stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace

      // A second service on the same directory is refused the same way and exits non-zero.
      const second = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'api'], { cwd: root, env: env({ PORT: '0' }), timeout: SLOW }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`in use by process ${service.pid}`);

      // Stopped gracefully, the service frees the directory; the refused command had written nothing.
      const exited = new Promise((resolve) => service!.once('exit', resolve));
      service.kill('SIGTERM');
      await exited;
      expect(fs.existsSync(path.join(dir, 'pglite', LOCK_FILE))).toBe(false);
      expect(await orgNames()).toEqual([]);
    },
    SLOW,
  );

  it(
    'takes over the lock of a service that was killed',
    async () => {
      service = await startService();
      const pid = service.pid!;
      const exited = new Promise((resolve) => service!.once('exit', resolve));
      service.kill('SIGKILL');
      await exited;
      const stale = JSON.parse(fs.readFileSync(path.join(dir, 'pglite', LOCK_FILE), 'utf8')) as LockHolder;
      expect(stale.pid).toBe(pid);
      const created = await cli(['org', 'create', '--name', 'After The Crash LLP', '--json']);
      expect(created.code, created.stderr).toBe(0);
      expect(await orgNames()).toEqual(['After The Crash LLP']);
    },
    SLOW,
  );

  it.skipIf(!process.env.TEST_DATABASE_URL)(
    'takes no lock with PostgreSQL, even beside a process holding the embedded directory',
    async () => {
      const url = process.env.TEST_DATABASE_URL!;
      const schema = `lock_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const held = acquireDataDirLock(path.join(dir, 'pglite'), { command: 'a test holding the embedded directory' });
      try {
        const withSchema = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
        const res = await cli(['org', 'create', '--name', 'On PostgreSQL LLP', '--json'], { DATABASE_URL: withSchema });
        expect(res.code, res.stderr).toBe(0);
        const rows = await admin.query(`SELECT name FROM ${schema}.organizations`);
        expect(rows.rows).toEqual([{ name: 'On PostgreSQL LLP' }]);
        expect(fs.readdirSync(path.join(dir, 'pglite')).filter((f) => f.startsWith(LOCK_FILE))).toEqual([LOCK_FILE]);
      } finally {
        held.release();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      }
    },
    SLOW,
  );
});
