import { vaultFor } from '../connections/token-refresh.ts';
import type { CliCommand } from './command.ts';

/**
 * `casebridge keys rotate`: re-seals every stored provider token under the newest key of
 * TOKEN_ENCRYPTION_KEYS. Rotation without downtime: put the new key first (keep the old ones), roll
 * the deployment, run this, then drop the old keys. Exits 1 when a value could not be opened (its key
 * is no longer listed): such connections need reconnecting.
 */
export const keyCommands: CliCommand[] = [
  {
    words: ['keys', 'rotate'],
    summary: 'Re-encrypt every stored provider token under the newest TOKEN_ENCRYPTION_KEYS key',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ args, services, print }) {
      if (!services) return 1;
      const vault = vaultFor(services);
      const result = await vault.rotate();
      if (args.json) print(JSON.stringify({ keyId: vault.keyring.current.id, ...result }, null, 2));
      else {
        print(`${result.resealed} token record(s) re-encrypted under key "${vault.keyring.current.id}" (${result.total} stored)`);
        for (const f of result.failed) print(`could not open the tokens of connection ${f.connectionId} (${f.code}); reconnect it`);
      }
      return result.failed.length ? 1 : 0;
    },
  },
];
