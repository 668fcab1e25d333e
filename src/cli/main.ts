import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import { DataDirLockedError } from '../db/data-dir-lock.ts';
import { RedisUnavailableError } from '../redis.ts';
import type { Services } from '../services.ts';
import { allCommands, commandsFor } from './commands.ts';

/** `npx casebridge <command> [options]`: finds the command whose words match the arguments. */
export async function runCli(argv: string[]): Promise<number> {
  const matches = (await commandsFor(argv[0]))
    .filter((c) => c.words.every((w, i) => argv[i] === w))
    .sort((a, b) => b.words.length - a.words.length);
  const command = matches[0];
  if (!command || argv[0] === 'help' || argv[0] === '--help') {
    console.log('Usage: casebridge <command> [options]\n\nCommands:');
    for (const c of await allCommands()) console.log(`  ${[...c.words, c.usage ?? ''].join(' ').padEnd(52)} ${c.summary}`);
    return command || argv[0] === 'help' || argv[0] === '--help' || argv.length === 0 ? 0 : 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv.slice(command.words.length), options: command.options ?? {}, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`${(err as Error).message}\nUsage: casebridge ${command.words.join(' ')} ${command.usage ?? ''}`);
    return 2;
  }
  let services: Services | null = null;
  try {
    const config = loadConfig();
    if (command.needsServices !== false) {
      // Imported here: commands that need only the database never load queues, workers or Redis.
      const [{ createServices }, { createLogger }] = await Promise.all([import('../services.ts'), import('../observability/logger.ts')]);
      services = await createServices(config, { logger: createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, stderr: true }) });
    }
    const code = await command.run({
      args: parsed.values as Record<string, string | boolean | string[] | boolean[] | undefined>,
      positionals: parsed.positionals,
      config,
      services,
      print: (line) => console.log(line),
    });
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RedisUnavailableError) {
      console.error(err.message);
      return 2;
    }
    if (err instanceof DataDirLockedError) {
      console.error(err.message);
      return 1;
    }
    const e = err as { code?: string; message?: string };
    console.error(`error${e.code ? ` (${e.code})` : ''}: ${e.message ?? String(err)}`);
    return 1;
  } finally {
    await services?.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/cli/main.ts')) {
  process.exitCode = await runCli(process.argv.slice(2));
}
