import type { Config } from '../config/load.ts';
import type { Services } from '../services.ts';

/** One option of a command: `--name VALUE` (string) or `--flag` (boolean). */
export interface CliOption {
  type: 'string' | 'boolean';
  /** A string option given several times collects every value (`--google-domain A --google-domain B`). */
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in help, e.g. `ID` for `--org ID` (default `VALUE`). */
  valueName?: string;
  /** One line for `--help`. */
  description?: string;
}

/** A positional argument, e.g. `FILE` of `receipts verify FILE`. */
export interface CliArgument {
  name: string;
  description: string;
  required?: boolean;
}

/** The values a command runs with: option values by option name, positionals in order. */
export interface CliRunContext {
  args: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
  config: Config;
  services: Services | null;
  print(line: string): void;
}

/** One `casebridge <words...>` command. */
export interface CliCommand {
  /** The words that select it, e.g. `['org', 'create']`. */
  words: string[];
  summary: string;
  /** Usage after the words, e.g. `--name NAME [--json]`: shown by `--help`. */
  usage?: string;
  /** Options by long name (without `--`). Every command also takes `--json` and `--help`. */
  options?: Record<string, CliOption>;
  arguments?: CliArgument[];
  /** Whether the command needs the database and Redis (most do); false runs with config only. */
  needsServices?: boolean;
  /** Resolves to the process exit code (see exit-codes.ts); `undefined` (no `return`) means 0. */
  run(ctx: CliRunContext): Promise<number | undefined>;
}

/**
 * A group of commands under shared leading words (`org`, `org saml`), listed in help by its words
 * and summary and imported only when the command line names it.
 */
export interface CliCommandGroup {
  words: string[];
  summary: string;
  load(): Promise<CliCommand[]>;
}
