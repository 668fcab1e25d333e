import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connectRedis } from '../redis.ts';

/** A free TCP port on 127.0.0.1 (the OS picks; there is a small race until the caller binds it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something already listens on host:port. */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, host, () => srv.close(() => resolve(false)));
  });
}

/** The absolute path of an executable on PATH, or null. */
export function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Whether a Redis server answers PING at the URL within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  try {
    const client = await connectRedis(url, { timeoutMs: 1000 });
    client.disconnect();
    return true;
  } catch {
    return false;
  }
}

export interface PrivateRedis {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts a throw-away `redis-server` on a free port (no RDB snapshots, no AOF: demo data lives in the
 * database, Redis only holds queues and sessions). It is killed when this process exits.
 */
export async function startPrivateRedis(executable: string): Promise<PrivateRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(executable, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const kill = () => {
    if (child.exitCode === null && !child.killed) child.kill('SIGTERM');
  };
  process.once('exit', kill);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      kill();
      throw new Error(`redis-server did not start on port ${port} (exit code ${child.exitCode ?? 'none'})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        process.removeListener('exit', kill);
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        kill();
      }),
  };
}
