import fs from 'node:fs';
import path from 'node:path';

/**
 * Self time by function of the worker processes during the measured batches of the worker-scaling
 * benchmark run with BENCH_SCALE_CPU_PROFILE_DIR=<dir> (see bench/worker-scaling.bench.ts), in
 * microseconds of main-thread CPU per provider write, per worker count (all processes of a batch
 * together, rounds averaged), side by side:
 *
 *   npx tsx bench/profile-window.ts <dir> [top=40] [group=function|file]
 *
 * The profiles' sample timestamps are on the monotonic clock the benchmark's windows are written in.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Window {
  variant: string;
  workerCount: number;
  pids: number[];
  startUs: number;
  endUs: number;
  writes: number;
}

const [dir, topArg, groupArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: bench/profile-window.ts <dir> [top] [function|file]');
const top = Number(topArg ?? 40);
const byFile = groupArg === 'file';

const windows = fs
  .readFileSync(path.join(dir, 'windows.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Window);
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
const profileOf = (pid: number): Profile | null => {
  const f = files.find((name) => name.split('.')[3] === String(pid));
  return f ? (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Profile) : null;
};

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, 'nm:')
    .replace(/^.*?\/(src|queues|connectors)\//, '$1/');
const keyOf = (n: ProfileNode) => {
  const { functionName, url, lineNumber } = n.callFrame;
  if (byFile) return url ? shortUrl(url).replace(/^nm:((?:@[^/]+\/)?[^/]+).*$/, 'nm:$1') : `(${functionName || 'native'})`;
  return `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim();
};

/** µs per write by key, and the total, per variant and worker count (summed over rounds, divided by their writes). */
const table = new Map<string, { us: Map<string, number>; writes: number }>();
for (const w of windows) {
  const label = `${w.variant} ${w.workerCount}p`;
  const entry = table.get(label) ?? { us: new Map(), writes: 0 };
  table.set(label, entry);
  entry.writes += w.writes;
  for (const pid of w.pids) {
    const profile = profileOf(pid);
    if (!profile) {
      console.error(`no profile for pid ${pid}`);
      continue;
    }
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i] ?? 0;
      t += delta;
      if (t < w.startUs || t > w.endUs) continue;
      // Each sample stands for the time until the next one.
      const span = profile.timeDeltas[i + 1] ?? 0;
      const node = byId.get(profile.samples[i]!)!;
      const k = keyOf(node);
      if (k.startsWith('(idle)')) continue;
      entry.us.set(k, (entry.us.get(k) ?? 0) + span);
      entry.us.set('TOTAL (non-idle)', (entry.us.get('TOTAL (non-idle)') ?? 0) + span);
    }
  }
}

const labels = [...table.keys()].sort();
const keys = new Map<string, number>();
for (const l of labels) {
  const { us, writes } = table.get(l)!;
  for (const [k, v] of us) keys.set(k, Math.max(keys.get(k) ?? 0, v / writes));
}
const rows = [...keys].sort((a, b) => b[1] - a[1]).slice(0, top);
console.log(['µs/write', ...labels].join('\t'));
for (const [k] of rows) {
  console.log([...labels.map((l) => ((table.get(l)!.us.get(k) ?? 0) / table.get(l)!.writes).toFixed(1)), k].join('\t'));
}
