import type { CliCommand } from './command.ts';
import { jsonOption } from './options.ts';
import { withStores } from './stores.ts';

/** `casebridge db migrate`: applies pending migrations (the service also does at start). */
export const dbCommands: CliCommand[] = [
  {
    words: ['db', 'migrate'],
    summary: 'Apply pending database migrations',
    usage: '[--json]',
    options: { json: jsonOption },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ applied }) => {
        const where = config.database.kind === 'postgres' ? 'PostgreSQL' : `PGlite (${config.database.dataDir ?? 'in memory'})`;
        if (args.json) print(JSON.stringify({ database: config.database.kind, applied }));
        else if (applied.length) print(`applied ${applied.length} migration(s) to ${where}: ${applied.join(', ')}`);
        else print(`${where} is up to date`);
      }),
  },
];
