import type { Config } from '../config/load.ts';
import type { RunningService } from '../main.ts';
import type { Services } from '../services.ts';
import type { DemoSeedReport } from './seed.ts';

/**
 * What the demo's steps share (see `main.ts`). In its own module so step files can import it
 * without importing `main.ts`, which imports them.
 */
export interface DemoContext {
  /** Environment overrides applied on top of process.env when the configuration is loaded. */
  env: Record<string, string | undefined>;
  config?: Config;
  services?: Services;
  running?: RunningService;
  seed?: DemoSeedReport;
  /** The provider sandbox the service talks to (started by the demo, or the one SANDBOX_URL names). */
  sandbox?: { url: string; startedByDemo: boolean };
  /** The demo's own mail capture (an SMTP server on loopback) when it set SMTP_URL to it. */
  mail?: { url: string; messages(): Array<{ to: string[]; subject: string; text: string }> };
  /** Sections of the final summary, in order: a heading and its lines. */
  summary: Array<{ heading: string; lines: string[] }>;
  /** Undone in reverse order at exit (after the service and its connections are closed). */
  cleanups: Array<() => Promise<void> | void>;
  /** Progress output while steps run (indented under the demo's opening line). */
  progress(line: string): void;
  /** Adds lines to a summary section (created on first use). */
  print(heading: string, ...lines: string[]): void;
}

export interface DemoStep {
  name: string;
  run(ctx: DemoContext): Promise<void>;
}

/** A variable as the configuration will see it: the demo's override, else the environment; empty = unset. */
export function envValue(ctx: Pick<DemoContext, 'env'>, name: string): string | undefined {
  const value = name in ctx.env ? ctx.env[name] : process.env[name];
  return value === '' ? undefined : value;
}

export function createDemoContext(env: Record<string, string | undefined> = {}, out: (line: string) => void = (line) => console.log(line)): DemoContext {
  const ctx: DemoContext = {
    env,
    summary: [],
    cleanups: [],
    progress: (line) => out(`  ${line}`),
    print(heading, ...lines) {
      let section = ctx.summary.find((s) => s.heading === heading);
      if (!section) {
        section = { heading, lines: [] };
        ctx.summary.push(section);
      }
      section.lines.push(...lines);
    },
  };
  return ctx;
}
