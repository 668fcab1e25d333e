import type { Benchmark } from './benchmark.ts';
import { blobsBenchmark } from './blobs.bench.ts';
import { cliBenchmark } from './cli.bench.ts';
import { contactsBenchmark } from './contacts.bench.ts';
import { faultsBenchmark } from './faults.bench.ts';
import { gateBenchmark } from './gate.bench.ts';
import { icalBenchmark } from './ical.bench.ts';
import { imanageBenchmark } from './imanage.bench.ts';
import { ingestBenchmark } from './ingest.bench.ts';
import { pagesBenchmark } from './pages.bench.ts';
import { revocationBenchmark } from './revocation.bench.ts';
import { syncBenchmark } from './sync.bench.ts';
import { transferLogBenchmark } from './transfer-log.bench.ts';
import { workerScalingBenchmark } from './worker-scaling.bench.ts';

/** Every benchmark `npm run bench` runs, in order. Add a line per benchmark file. */
export const benchmarks: Benchmark[] = [
  ingestBenchmark,
  icalBenchmark,
  gateBenchmark,
  transferLogBenchmark,
  syncBenchmark,
  faultsBenchmark,
  revocationBenchmark,
  pagesBenchmark,
  blobsBenchmark,
  cliBenchmark,
  contactsBenchmark,
  imanageBenchmark,
  workerScalingBenchmark,
];
