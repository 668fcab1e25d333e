import { createApiKey } from '../auth/api-keys.ts';
import type { CliCommand } from './command.ts';
import { requireOption, withStores } from './stores.ts';

/** `casebridge org create|list`: subscribing firms. `create` also makes the firm's first API key. */
export const orgCommands: CliCommand[] = [
  {
    words: ['org', 'create'],
    summary: 'Create an organization and its first API key (the key is shown once)',
    usage: '--name NAME [--json]',
    options: { name: { type: 'string' }, json: { type: 'boolean' } },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const name = requireOption(args, 'name', 'NAME');
        const { organization, key } = await db.transaction().execute(async (tx) => {
          const organization = await tx
            .insertInto('organizations')
            .values({ name, settings: JSON.stringify({}) })
            .returning(['id', 'name'])
            .executeTakeFirstOrThrow();
          const key = await createApiKey(tx, { organizationId: organization.id, name: 'default' });
          return { organization, key };
        });
        if (args.json) {
          print(JSON.stringify({ organization, apiKey: key.apiKey, apiKeyId: key.id }));
          return;
        }
        print(`organization ${organization.id}  ${organization.name}`);
        print(`API key ${key.id} (shown once, store it now): ${key.apiKey}`);
      }),
  },
  {
    words: ['org', 'list'],
    summary: 'List organizations',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const rows = await db.selectFrom('organizations').select(['id', 'name', 'created_at']).orderBy('created_at').execute();
        if (args.json) print(JSON.stringify({ organizations: rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at.toISOString() })) }));
        else for (const r of rows) print(`${r.id}  ${r.name}`);
      }),
  },
];
