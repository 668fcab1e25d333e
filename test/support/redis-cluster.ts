import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/demo/private-redis.ts';

const run = promisify(execFile);

/** Whether redis-server and redis-cli are installed (the cluster tests skip without them). */
export async function redisClusterToolsAvailable(): Promise<boolean> {
  try {
    await run('redis-cli', ['--version']);
    await run('redis-server', ['--version']);
    return true;
  } catch {
    return false;
  }
}

/** A free port whose cluster bus port (+10000) is free too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 10_000 > 65_535) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p + 10_000, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

/**
 * A throw-away Redis Cluster of `masters` masters (no replicas) on loopback ports: each node a
 * `redis-server --cluster-enabled yes` in a temporary directory, joined by `redis-cli --cluster
 * create`; resolves once `cluster_state:ok`. `stop()` kills the nodes and removes the directory.
 */
export async function startRedisCluster(masters = 3): Promise<{ ports: number[]; nodes: string; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await clusterPort();
      ports.push(port);
      children.push(
        spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`].concat([
            '--cluster-node-timeout',
            '5000',
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            dir,
          ]),
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) await waitFor(async () => (await run('redis-cli', ['-p', String(port), 'ping'])).stdout.includes('PONG'));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await waitFor(async () => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), stop };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await check().catch(() => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error('redis cluster did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
}
