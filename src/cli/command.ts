import type { Config } from '../config/load.ts';
import type { Services } from '../services.ts';

/** One `npx casebridge <words...>` command. */
export interface CliCommand {
  /** The words that select it, e.g. `['org', 'create']`. */
  words: string[];
  summary: string;
  /** Usage line after the words, e.g. `--name NAME [--json]`. */
  usage?: string;
  /** Options for node:util parseArgs. */
  options?: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;
  /** Whether the command needs the database and Redis (most do); false runs with config only. */
  needsServices?: boolean;
  /** Resolves to the process exit code; `undefined` (no `return`) means 0. */
  run(ctx: {
    args: Record<string, string | boolean | string[] | boolean[] | undefined>;
    positionals: string[];
    config: Config;
    services: Services | null;
    print(line: string): void;
  }): Promise<number | undefined>;
}
