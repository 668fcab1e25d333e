/**
 * One benchmark: measures a subject and a baseline in the same run and reports their ratio, so
 * results compare across machines.
 */
export interface BenchResult {
  name: string;
  /** What was measured, e.g. items/s. */
  unit: string;
  subject: number;
  baseline: number | null;
  /** subject / baseline (or as defined by `ratioMeaning`). */
  ratio: number | null;
  ratioMeaning?: string;
  goal?: string;
  met?: boolean;
  extra?: Record<string, unknown>;
}

export interface Benchmark {
  name: string;
  run(): Promise<BenchResult[]>;
}
