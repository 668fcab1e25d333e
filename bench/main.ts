import fs from 'node:fs';
import type { BenchResult } from './benchmark.ts';
import { benchmarks } from './registry.ts';

/**
 * `npm run bench [name-filter]`: runs every benchmark (or those whose name contains the filter),
 * prints a table and JSON, and writes bench/results/latest.json.
 */
const filter = process.argv[2];
const results: BenchResult[] = [];
for (const b of benchmarks.filter((x) => !filter || x.name.includes(filter))) {
  process.stderr.write(`running ${b.name}...\n`);
  results.push(...(await b.run()));
}
const fmt = (n: number | null) => (n === null ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(3));
console.log('| benchmark | unit | subject | baseline | ratio | goal | met |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.unit} | ${fmt(r.subject)} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${r.goal ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : 'no'} |`,
  );
}
console.log(JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2));
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync('bench/results/latest.json', JSON.stringify({ at: new Date().toISOString(), results }, null, 2));
process.exit(0);
