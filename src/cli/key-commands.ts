import type { CliCommand } from './command.ts';
import { jsonOption } from './options.ts';

/**
 * `casebridge keys rotate`: re-seals every stored provider token and webhook secret, and re-encrypts every stored
 * document blob (blobs stored before encryption included), under the newest key of
 * TOKEN_ENCRYPTION_KEYS. Rotation without downtime: put the new key first (keep the old ones), roll
 * the deployment, run this, then drop the old keys. Exits 1 when a token or blob could not be opened
 * (its key is no longer listed, or a blob was altered): such connections need reconnecting, such
 * documents uploading again.
 */
export const keyCommands: CliCommand[] = [
  {
    words: ['keys', 'rotate'],
    summary: 'Re-encrypt every stored provider token and document blob under the newest TOKEN_ENCRYPTION_KEYS key',
    usage: '[--json]',
    options: { json: jsonOption },
    async run({ args, services, print }) {
      if (!services) return 1;
      const [{ blobStoreFor }, { vaultFor }, { resealWebhookSecrets }] = await Promise.all([
        import('../blobs/blob-store.ts'),
        import('../connections/token-refresh.ts'),
        import('../webhooks/endpoints.ts'),
      ]);
      const vault = vaultFor(services);
      const result = await vault.rotate();
      // Built from this command's configuration, so the newest key is the one just configured.
      const blobs = await blobStoreFor(services.config).rotate();
      const webhooks = await resealWebhookSecrets(services);
      if (args.json) print(JSON.stringify({ keyId: vault.keyring.current.id, ...result, blobs, webhooks }, null, 2));
      else {
        print(`${result.resealed} token record(s) re-encrypted under key "${vault.keyring.current.id}" (${result.total} stored)`);
        for (const f of result.failed) print(`could not open the tokens of connection ${f.connectionId} (${f.code}); reconnect it`);
        print(`${blobs.reencrypted} document blob(s) re-encrypted (${blobs.total} stored)`);
        for (const f of blobs.failed) print(`could not open document blob ${f.sha256} (${f.code}); upload the document again`);
        print(`${webhooks.resealed} webhook endpoint secret(s) re-encrypted (${webhooks.total} stored)`);
        for (const f of webhooks.failed) print(`could not open the secret of webhook endpoint ${f.endpointId} (${f.code}); rotate its secret`);
      }
      return result.failed.length || blobs.failed.length || webhooks.failed.length ? 1 : 0;
    },
  },
];
