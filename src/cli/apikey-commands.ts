import { API_KEY_SCOPES, isApiKeyScope } from '../auth/api-key-scopes.ts';
import type { CliCommand } from './command.ts';
import { jsonOption, orgOption } from './options.ts';
import { requireOption, requireOrganization, withStores } from './stores.ts';
import { UsageError } from './usage-error.ts';

/** The key functions, imported when a command runs (help loads only the definitions). */
const apiKeys = () => import('../auth/api-keys.ts');

/** `casebridge apikey create|list|revoke`: the keys the case-management app pushes data with. */
export const apikeyCommands: CliCommand[] = [
  {
    words: ['apikey', 'create'],
    summary: 'Create an API key for an organization (shown once)',
    usage: '--org ID [--name NAME] [--scopes LIST] [--json]',
    options: {
      org: orgOption,
      name: { type: 'string', valueName: 'NAME', description: 'a name to tell the key by (default "default")' },
      scopes: { type: 'string', valueName: 'LIST', description: `comma-separated: ${API_KEY_SCOPES.join(', ')} (default ingest,connections:manage)` },
      json: jsonOption,
    },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const name = typeof args.name === 'string' && args.name.trim() ? args.name.trim() : 'default';
        const scopes = typeof args.scopes === 'string' ? args.scopes.split(',').map((s) => s.trim()) : [];
        const unknown = scopes.filter((s) => !isApiKeyScope(s));
        if (unknown.length) throw new UsageError(`unknown scope ${unknown.join(', ')}; use ${API_KEY_SCOPES.join(', ')}`);
        const { createApiKey } = await apiKeys();
        const key = await createApiKey(db, { organizationId: org.id, name, scopes: scopes.filter(isApiKeyScope) });
        if (args.json) print(JSON.stringify({ id: key.id, name, prefix: key.prefix, scopes: key.scopes, apiKey: key.apiKey, organizationId: org.id }));
        else print(`API key ${key.id} "${name}" for ${org.name} (shown once, store it now): ${key.apiKey}`);
      }),
  },
  {
    words: ['apikey', 'list'],
    summary: "List an organization's API keys (prefix, last use, revocation; never the keys)",
    usage: '--org ID [--json]',
    options: { org: orgOption, json: jsonOption },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const { listApiKeys } = await apiKeys();
        const keys = await listApiKeys(db, { organizationId: org.id, order: 'oldest' });
        if (args.json) print(JSON.stringify({ apiKeys: keys }));
        else
          for (const k of keys)
            print(
              `${k.id}  ${k.prefix}…  ${k.name}  [${k.scopes.join(',')}]  ${k.revokedAt ? `revoked ${k.revokedAt}` : `last used ${k.lastUsedAt ?? 'never'}`}`,
            );
      }),
  },
  {
    words: ['apikey', 'revoke'],
    summary: 'Revoke an API key (the next request with it gets 401 revoked_api_key)',
    usage: '--org ID --id KEYID [--json]',
    options: { org: orgOption, id: { type: 'string', valueName: 'KEYID', description: "the key's id (from `apikey list`)" }, json: jsonOption },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const id = requireOption(args, 'id', 'KEYID');
        const valid = /^[0-9a-f-]{36}$/i.test(id);
        const { revokeApiKey } = await apiKeys();
        if (!valid || !(await revokeApiKey(db, { organizationId: org.id, id }))) {
          throw new UsageError(`no live API key ${id} in organization ${org.id}`);
        }
        if (args.json) print(JSON.stringify({ id, organizationId: org.id, revoked: true }));
        else print(`revoked API key ${id}`);
      }),
  },
];
