import type { Benchmark } from './benchmark.ts';

/** Every benchmark `npm run bench` runs, in order. Add a line per benchmark file. */
export const benchmarks: Benchmark[] = [];
