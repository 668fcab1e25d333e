import type { CliCommand } from './command.ts';
import { jsonOption } from './options.ts';
import { withStores } from './stores.ts';

/** `casebridge seed demo`: the demo's sample firms (idempotent; prints fresh demo API keys). */
export const seedCommands: CliCommand[] = [
  {
    words: ['seed', 'demo'],
    summary: 'Create or refresh the two sample firms, their users, cases, events, documents and contacts',
    usage: '[--json]',
    options: { json: jsonOption },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db, blobs }) => {
        const { describeSeed, seedDemo, silentChangeFeed } = await import('../demo/seed.ts');
        // Another process's sync workers are not told; their periodic full reconcile picks the data up.
        const report = await seedDemo({ db, blobs, changeFeed: silentChangeFeed });
        if (args.json) print(JSON.stringify(report));
        else for (const line of describeSeed(report)) print(line);
      }),
  },
];
