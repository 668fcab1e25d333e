import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Benchmark, BenchResult } from './benchmark.ts';

/**
 * Whole-process start-up of the `casebridge` bin, hyperfine style: each command is spawned RUNS
 * times, round-robin with `node -e 0` (the baseline) so load on the machine hits all of them alike,
 * after WARMUP unmeasured rounds; medians are reported. It runs what `npx casebridge` runs: the
 * compiled CLI in dist/ when built (`npm run build`), else the source through tsx.
 *
 * Goals (issue: a fast CLI): `casebridge --help` ≤ 0.3 s and `casebridge org list` ≤ 1 s, median.
 * `org list` opens the embedded PGlite database (one organization in it), and PostgreSQL too when
 * BENCH_DATABASE_URL or TEST_DATABASE_URL is set.
 */
const RUNS = Number(process.env.CLI_BENCH_RUNS ?? 15);
const WARMUP = 2;
const root = new URL('..', import.meta.url).pathname;
const bin = path.join(root, 'bin/casebridge.mjs');

interface Subject {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  goalSeconds?: number;
}

/**
 * The process's own CPU time (user + system, all threads), written to stderr as it exits: unlike wall
 * time it barely moves with the load other processes put on the machine. Given to every process,
 * the baseline included, so its small cost is in both.
 */
const CPU_REPORT = `data:text/javascript,${encodeURIComponent("process.on('exit',()=>{const u=process.cpuUsage();process.stderr.write('\\ncpu-us '+(u.user+u.system)+'\\n')})")}`;

/** One run: wall seconds and CPU seconds. */
function timeOnce(args: string[], env: NodeJS.ProcessEnv): { wall: number; cpu: number } {
  const start = process.hrtime.bigint();
  const res = spawnSync(process.execPath, ['--import', CPU_REPORT, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (res.status !== 0) throw new Error(`${args.join(' ')} exited ${res.status}: ${res.stderr?.toString()}`);
  const cpu = Number(/cpu-us (\d+)/.exec(res.stderr?.toString() ?? '')?.[1] ?? Number.NaN) / 1e6;
  return { wall, cpu };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Runs the subjects and the baseline round-robin; wall and CPU seconds of each run by name. */
function measure(subjects: Subject[], baseEnv: NodeJS.ProcessEnv): { times: Map<string, number[]>; cpu: Map<string, number[]> } {
  const all: Subject[] = [{ name: 'node -e 0', args: ['-e', '0'], env: baseEnv }, ...subjects];
  const times = new Map<string, number[]>(all.map((s) => [s.name, []]));
  const cpu = new Map<string, number[]>(all.map((s) => [s.name, []]));
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (const s of all) {
      const t = timeOnce(s.name === 'node -e 0' ? s.args : [bin, ...s.args], s.env);
      if (round >= WARMUP) {
        times.get(s.name)!.push(t.wall);
        cpu.get(s.name)!.push(t.cpu);
      }
    }
  }
  return { times, cpu };
}

export const cliBenchmark: Benchmark = {
  name: 'cli',
  async run(): Promise<BenchResult[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-cli-bench-'));
    const baseEnv = { PATH: process.env.PATH, REDIS_URL: 'redis://127.0.0.1:1', DATA_DIR: dir, LOG_LEVEL: 'silent' };
    const pglite = { ...baseEnv, DATABASE_URL: `pglite://${path.join(dir, 'db')}` };
    const subjects: Subject[] = [
      { name: 'casebridge --help', args: ['--help'], env: baseEnv, goalSeconds: 0.3 },
      { name: 'casebridge --version', args: ['--version'], env: baseEnv },
      { name: 'casebridge org --help', args: ['org', '--help'], env: baseEnv },
      { name: 'casebridge org create --help', args: ['org', 'create', '--help'], env: baseEnv },
      { name: 'casebridge org list (PGlite)', args: ['org', 'list'], env: pglite, goalSeconds: 1 },
    ];
    const pgUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    const pgSchema = `cli_bench_${process.pid}`;
    const admin = async (statement: string) => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(statement);
      await client.end();
    };
    if (pgUrl) {
      // A schema of its own, through the connection's search_path.
      await admin(`CREATE SCHEMA ${pgSchema}`);
      const url = `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${pgSchema}`)}`;
      subjects.push({ name: 'casebridge org list (PostgreSQL)', args: ['org', 'list'], env: { ...baseEnv, DATABASE_URL: url }, goalSeconds: 1 });
    }
    try {
      // One organization in each database (this also applies the migrations, outside the measurement).
      for (const s of subjects.filter((x) => x.args[0] === 'org' && x.args[1] === 'list')) {
        spawnSync(process.execPath, [bin, 'org', 'create', '--name', 'Bench LLP'], { cwd: root, env: s.env, stdio: 'ignore' });
      }
      const loadBefore = os.loadavg()[0]!;
      const { times, cpu } = measure(subjects, baseEnv);
      const loadAfter = os.loadavg()[0]!;
      const baseline = median(times.get('node -e 0')!);
      const compiled = fs.existsSync(path.join(root, 'dist/src/cli/main.js'));
      return subjects.map((s) => {
        const subject = median(times.get(s.name)!);
        return {
          name: `${s.name} (${compiled ? 'compiled' : 'tsx'})`,
          unit: 's (median)',
          subject,
          baseline,
          ratio: subject / baseline,
          ratioMeaning: 'median wall time / median `node -e 0` in the same rounds',
          ...(s.goalSeconds ? { goal: `≤ ${s.goalSeconds} s`, met: subject <= s.goalSeconds } : {}),
          extra: {
            runs: RUNS,
            cpuSecondsMedian: median(cpu.get(s.name)!),
            baselineCpuSecondsMedian: median(cpu.get('node -e 0')!),
            min: Math.min(...times.get(s.name)!),
            max: Math.max(...times.get(s.name)!),
            loadAverage1m: [loadBefore, loadAfter],
            cpus: os.cpus().length,
          },
        };
      });
    } finally {
      if (pgUrl) await admin(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await cliBenchmark.run();
  for (const r of results) {
    const x = r.extra as { min: number; max: number; cpuSecondsMedian: number; baselineCpuSecondsMedian: number };
    console.log(
      `${r.name.padEnd(48)} median ${r.subject.toFixed(3)} s  (min ${x.min.toFixed(3)}, max ${x.max.toFixed(3)})  ×${r.ratio!.toFixed(1)} node -e 0 (${r.baseline!.toFixed(3)} s)  CPU ${x.cpuSecondsMedian.toFixed(3)} s (node -e 0: ${x.baselineCpuSecondsMedian.toFixed(3)} s)${r.goal ? `  goal ${r.goal}: ${r.met ? 'met' : 'NOT met'}` : ''}`,
    );
  }
  console.log(
    `load average (1 min) before/after: ${(results[0]!.extra as { loadAverage1m: number[] }).loadAverage1m.map((l) => l.toFixed(1)).join(' / ')} on ${os.cpus().length} CPUs`,
  );
  console.log(JSON.stringify(results));
}
