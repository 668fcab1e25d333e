import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CommanderError } from 'commander';
import type { Services } from '../services.ts';
import type { CliCommand } from './command.ts';
import { allCommands, commandGroups, groupFor } from './commands.ts';
import { EXIT } from './exit-codes.ts';
import { buildProgram, type ParsedRun } from './program.ts';
import { UsageError } from './usage-error.ts';

/**
 * `casebridge <command> [options]`: parses the command line (commander), imports only the group of
 * commands it names, runs the command and resolves to the exit code (exit-codes.ts). Nothing else
 * is imported before a command runs: configuration, the database and Redis are loaded by the
 * command's own run, so `--help` and `--version` start in the time Node takes to start.
 */
export async function runCli(argv: string[]): Promise<number> {
  // `casebridge help org create` is `casebridge org create --help` (commander's help command reads one word).
  if (argv[0] === 'help') argv = [...argv.slice(1), '--help'];
  const words = leadingWords(argv);
  const group = groupFor(words);
  const json = argv.includes('--json');
  let code: number = EXIT.ok;
  const program = buildProgram({
    version: packageVersion(),
    groups: commandGroups,
    loaded: group ? await group.load() : [],
    json,
    onRun: async (run) => {
      code = await runCommand(run);
    },
    onCompletion: async (shell) => {
      const { completionScript, completionTable } = await import('./completion.ts');
      process.stdout.write(completionScript(shell, completionTable(commandGroups, await allCommands())));
    },
  });
  if (!argv.length) {
    program.outputHelp();
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
    // An unknown command: the error is on stderr; the commands there are follows on stdout.
    if (err.code === 'commander.unknownCommand' && !group && !json) program.outputHelp();
    return EXIT.usage;
  }
}

/** The words before the first option: `org create --name X` → `org create`. */
function leadingWords(argv: string[]): string[] {
  const end = argv.findIndex((a) => a.startsWith('-'));
  return end === -1 ? argv : argv.slice(0, end);
}

/** The version in package.json (one level further up when running from dist/). */
function packageVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'casebridge' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

/**
 * Runs one parsed command: loads the configuration (and the services when the command needs
 * them), runs it, and turns what it threw into a message (or, with `--json`, an
 * `{ "error": { code, message } }` object) on stderr and an exit code.
 */
export async function runCommand({ command, args, positionals }: ParsedRun): Promise<number> {
  let services: Services | null = null;
  try {
    const { loadConfig } = await import('../config/load.ts');
    const config = loadConfig();
    if (command.needsServices !== false) {
      // Imported here: commands that need only the database never load queues, workers or Redis.
      const [{ createServices }, { createLogger }] = await Promise.all([import('../services.ts'), import('../observability/logger.ts')]);
      services = await createServices(config, { logger: createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, stderr: true }) });
    }
    const code = await command.run({ args, positionals, config, services, print: (line) => console.log(line) });
    return typeof code === 'number' ? code : EXIT.ok;
  } catch (err) {
    const failure = await classify(err, command);
    if (args.json) console.error(JSON.stringify({ error: { code: failure.code, message: failure.message } }));
    else console.error(failure.text);
    return failure.exit;
  } finally {
    await services?.close();
  }
}

/** An error's exit code, stable code and message. */
async function classify(err: unknown, command: CliCommand): Promise<{ exit: number; code: string; message: string; text: string }> {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const code = typeof e.code === 'string' ? e.code : 'failed';
  if (err instanceof UsageError)
    return { exit: EXIT.usage, code: 'usage', message, text: `${message}\nUsage: casebridge ${command.words.join(' ')} ${command.usage ?? ''}`.trimEnd() };
  const { ConfigError } = await import('../config/load.ts');
  if (err instanceof ConfigError) return { exit: EXIT.config, code: 'invalid_config', message, text: message };
  if (code === 'redis_unavailable') return { exit: EXIT.unavailable, code, message, text: message };
  if (code === 'data_dir_locked') return { exit: EXIT.failure, code, message, text: message };
  return { exit: EXIT.failure, code, message, text: `error${code === 'failed' ? '' : ` (${code})`}: ${message}` };
}

/** Whether this module is the process's entry (`node dist/src/cli/main.js`, `tsx src/cli/main.ts`). */
function isEntry(): boolean {
  try {
    return Boolean(process.argv[1]) && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1]!)).href;
  } catch {
    return false;
  }
}

if (isEntry()) process.exitCode = await runCli(process.argv.slice(2));
