import type { JsonWebKey } from 'node:crypto';
import fs from 'node:fs';
import type { verifyReceipt } from '../revocation/receipt.ts';
import type { RevocationTarget } from '../revocation/service.ts';
import type { CliCommand } from './command.ts';
import { jsonOption } from './options.ts';
import { UsageError } from './usage-error.ts';

/**
 * `casebridge revoke`: the admin revocation from the command line (same pipeline as the API).
 * `casebridge receipts get|verify|public-key`: fetch a signed receipt; check one offline; print the
 * public key (JWK) that verifies receipts and checkpoints with standard JOSE tools.
 */
export const revocationCommands: CliCommand[] = [
  {
    words: ['revoke'],
    summary: 'Revoke connections now (same pipeline as POST /v1/admin/revocations)',
    usage:
      '(--connection ID | --user ID | --organization | --platform P [--all-organizations]) [--org ORG_ID] --reason TEXT [--purge-remote] [--inline] [--json]',
    options: {
      org: { type: 'string', valueName: 'ORG_ID', description: 'the organization (every target but --all-organizations)' },
      connection: { type: 'string', valueName: 'ID', description: 'revoke one connection' },
      user: { type: 'string', valueName: 'ID', description: 'revoke every connection of a user' },
      organization: { type: 'boolean', description: 'revoke every connection of the organization' },
      platform: { type: 'string', valueName: 'P', description: 'revoke every connection to a platform (its id, as `GET /v1/admin/platforms` lists them)' },
      'all-organizations': { type: 'boolean', description: 'with --platform: in every organization' },
      reason: { type: 'string', valueName: 'TEXT', description: 'why (required; goes into the audit log and the receipt)' },
      'purge-remote': { type: 'boolean', description: 'also delete what was synced to the platform' },
      inline: { type: 'boolean', description: 'run the clean-up in this process now instead of on the workers' },
      json: jsonOption,
    },
    async run({ args, services, print }) {
      if (!services) return 1;
      const reason = args.reason as string | undefined;
      if (!reason) throw new UsageError('--reason is required (it goes into the audit log and the receipt)');
      let target: RevocationTarget;
      if (args.connection) target = { kind: 'connection', connectionId: String(args.connection) };
      else if (args.user) target = { kind: 'user', userId: String(args.user) };
      else if (args.organization) target = { kind: 'organization' };
      else if (args.platform && args['all-organizations']) target = { kind: 'platform_all_organizations', platform: String(args.platform) };
      else if (args.platform) target = { kind: 'platform', platform: String(args.platform) };
      else throw new UsageError('choose a target: --connection ID, --user ID, --organization or --platform P');
      const organizationId = target.kind === 'platform_all_organizations' ? null : ((args.org as string | undefined) ?? null);
      if (target.kind !== 'platform_all_organizations' && !organizationId) throw new UsageError('--org ORG_ID is required for this target');
      const inline = Boolean(args.inline);
      // The revocation pipeline is imported when the command runs (help loads only the definitions).
      const [{ requestRevocation }, { enqueueRevocation }, { processRevocation }] = await Promise.all([
        import('../revocation/service.ts'),
        import('../revocation/queue.ts'),
        import('../revocation/process.ts'),
      ]);
      const result = await requestRevocation(services, {
        organizationId,
        target,
        reason,
        purgeRemote: Boolean(args['purge-remote']),
        requestedBy: { kind: 'system', reason: 'command line' },
        // --inline: no worker needed; the clean-up runs in this process right away.
        enqueue: inline ? async () => {} : (id) => enqueueRevocation(services, id),
      });
      if (inline && result.created && result.connectionIds.length) {
        await processRevocation(services, { revocationId: result.revocationId, finalAttempt: true, cancelJobs: async () => 0 });
      }
      if (args.json) print(JSON.stringify(result));
      else
        print(
          result.created
            ? `revocation ${result.revocationId}: ${result.connectionIds.length} connection(s) revoked at ${result.effectiveAt.toISOString()}${inline ? ' (clean-up done)' : '; clean-up queued'}`
            : `already revoked (revocation ${result.revocationId}); nothing changed`,
        );
      return 0;
    },
  },
  {
    words: ['receipts', 'get'],
    summary: 'Print the signed receipt of a revocation as JSON (save it to verify later)',
    usage: '--id REVOCATION_ID',
    options: { id: { type: 'string', valueName: 'REVOCATION_ID', description: 'the revocation (its id from `revoke` or the API)' }, json: jsonOption },
    async run({ args, services, print }) {
      if (!services) return 1;
      if (!args.id) throw new UsageError('--id REVOCATION_ID is required');
      const { loadRevocation, receiptEnvelope } = await import('../revocation/receipt.ts');
      const row = await loadRevocation(services.db, String(args.id));
      // The receipt is JSON either way; --json is accepted so every command takes it.
      if (!row) throw Object.assign(new Error(`revocation ${String(args.id)} not found`), { code: 'revocation_not_found' });
      if (!row.receipt) throw Object.assign(new Error('the revocation is not complete yet; no receipt'), { code: 'receipt_not_ready' });
      print(JSON.stringify(receiptEnvelope(row), null, 2));
      return 0;
    },
  },
  {
    words: ['receipts', 'verify'],
    summary: "Verify a revocation receipt's signature, JWS or the earlier format (exit 1 when it does not verify)",
    usage: 'FILE [--public-key PEM_OR_JWK_FILE] [--json]',
    arguments: [{ name: 'FILE', description: "the receipt (the API's answer or `receipts get` output)", required: true }],
    options: {
      'public-key': { type: 'string', valueName: 'PEM_OR_JWK_FILE', description: "the signer's public key (default: this deployment's AUDIT_SIGNING_KEY)" },
      json: jsonOption,
    },
    needsServices: false,
    async run({ args, positionals, config, print }) {
      const file = positionals[0];
      if (!file) throw new UsageError('FILE is required');
      let envelope: unknown;
      try {
        envelope = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
      }
      // A receipt file may be the API's whole answer ({revocation:{receipt}}) or just the envelope.
      const e = envelope as { revocation?: { receipt?: unknown }; receipt?: unknown };
      const candidate = e.revocation?.receipt ?? e.receipt ?? envelope;
      const [{ verifyReceipt }, { getSigningKey }] = await Promise.all([import('../revocation/receipt.ts'), import('../transfers/signing.ts')]);
      let publicKey: Parameters<typeof verifyReceipt>[1] = getSigningKey(config).publicKey;
      if (args['public-key']) {
        const text = fs.readFileSync(String(args['public-key']), 'utf8');
        // A JWK (or the signing-key endpoint's answer, which holds one) or an SPKI PEM.
        publicKey = text.trimStart().startsWith('{') ? publishedJwk(JSON.parse(text)) : text;
      }
      const valid = await verifyReceipt(candidate, publicKey);
      if (args.json) print(JSON.stringify({ valid }));
      else print(valid ? 'receipt signature valid' : 'receipt signature INVALID (edited, truncated or signed by another key)');
      return valid ? 0 : 1;
    },
  },
  {
    words: ['receipts', 'public-key'],
    summary: 'Print the public key (JWK, or --pem) that verifies receipts and transfer-log checkpoints',
    usage: '[--pem | --json]',
    options: { pem: { type: 'boolean', description: 'as an SPKI PEM instead of a JWK' }, json: jsonOption },
    needsServices: false,
    async run({ args, config, print }) {
      const { getSigningKey } = await import('../transfers/signing.ts');
      const key = getSigningKey(config);
      if (args.pem && args.json) throw new UsageError('give --pem or --json, not both');
      // The JWK is JSON already; --json prints it the same way.
      print(args.pem ? key.publicKeyPem.trimEnd() : JSON.stringify(key.publicJwk));
      return 0;
    },
  },
];

/** The JWK in a key file: a bare JWK, a JWK Set's first key, or `{ jwk }` as the signing-key endpoint answers. */
function publishedJwk(value: { jwk?: JsonWebKey; keys?: JsonWebKey[] } & JsonWebKey): JsonWebKey {
  return value.jwk ?? value.keys?.[0] ?? value;
}
