import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf, ROOT, resolveRelative, tsFiles } from './source-files.ts';

/**
 * `src/main.ts` is the composition root: it wires the process (services, change routing, API,
 * workers). Modules below it never import it — only other process entries may (the demo runs the
 * service in-process). Import cycles, type imports included, are caught by `npm run cycles`.
 */

/** Process entries allowed to import the composition root. */
const ENTRIES = new Set(['src/demo/main.ts', 'src/demo/context.ts']);

function importersOfMain(): string[] {
  const files = ['src', 'connectors', 'queues', 'sandbox'].flatMap((d) => tsFiles(d));
  return files.filter(
    (f) =>
      f !== path.normalize('src/main.ts') &&
      !ENTRIES.has(f) &&
      importsOf(fs.readFileSync(path.join(ROOT, f), 'utf8')).some((i) => resolveRelative(f, i.specifier) === path.normalize('src/main.ts')),
  );
}

describe('architecture: one composition root', () => {
  it('no module below src/main.ts imports it', () => {
    expect(importersOfMain()).toEqual([]);
  });

  it('the shared services module does not import the queues or the connectors', () => {
    const imports = importsOf(fs.readFileSync(path.join(ROOT, 'src/services.ts'), 'utf8'))
      .map((i) => resolveRelative('src/services.ts', i.specifier))
      .filter((p): p is string => p !== null);
    expect(imports.filter((p) => p.startsWith('connectors/') || (p.startsWith('queues/') && p !== path.normalize('queues/definitions.ts')))).toEqual([]);
  });

  it('counts type imports when looking for cycles', () => {
    const madgerc = JSON.parse(fs.readFileSync(path.join(ROOT, '.madgerc'), 'utf8')) as { detectiveOptions?: Record<string, { skipTypeImports?: boolean }> };
    expect(Object.values(madgerc.detectiveOptions ?? {}).some((o) => o.skipTypeImports === true)).toBe(false);
  });
});

describe('architecture: leaf lists agree with the connector registry', () => {
  it('every connector hook run inside the revocation transaction is in the list the revocation service reads', async () => {
    const { connectors } = await import('../../connectors/registry.ts');
    const { revokeInTransactionHooks } = await import('../../connectors/transaction-hooks.ts');
    const fromRegistry = connectors.flatMap((c) => (c.revokeInTransaction ? [c.revokeInTransaction] : []));
    expect(new Set(revokeInTransactionHooks)).toEqual(new Set(fromRegistry));
  });

  it('the manifests the access rule reads are the registry’s, one per connector', async () => {
    const { connectors } = await import('../../connectors/registry.ts');
    const { manifests } = await import('../../connectors/manifests.ts');
    expect(new Set(manifests)).toEqual(new Set(connectors.map((c) => c.manifest)));
    expect(manifests).toHaveLength(connectors.length);
  });

  it('every connector with a config fragment is known to the configuration schema', async () => {
    const { connectors } = await import('../../connectors/registry.ts');
    const { connectorConfigs } = await import('../../connectors/config-fragments.ts');
    expect(Object.keys(connectorConfigs).every((id) => connectors.some((c) => c.manifest.id === id))).toBe(true);
  });
});

describe('architecture: one way to a connection\u2019s tokens', () => {
  it('connectors reach the connections module only through the OAuth contract (tokens come in their context)', () => {
    const offenders = tsFiles('connectors').flatMap((f) =>
      importsOf(fs.readFileSync(path.join(ROOT, f), 'utf8'))
        .map((i) => resolveRelative(f, i.specifier))
        .filter((p): p is string => p?.startsWith(path.normalize('src/connections/')) === true)
        .filter((p) => p !== path.normalize('src/connections/oauth-types.ts') && p !== path.normalize('src/connections/token-vault.ts'))
        .map((p) => `${f} → ${p}`),
    );
    expect(offenders).toEqual([]);
  });

  it('only src/connections/token-access.ts builds token access; the vault is opened only by the connections module and key rotation', () => {
    const files = ['src', 'connectors', 'queues'].flatMap((d) => tsFiles(d));
    const calling = (name: string) => files.filter((f) => new RegExp(`\\b${name}\\(`).test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(calling('createTokenAccess')).toEqual(
      [path.normalize('src/connections/token-access.ts'), path.normalize('src/connections/token-refresh.ts')].sort(),
    );
    expect(calling('vaultFor').filter((f) => !f.startsWith(path.normalize('src/connections/')))).toEqual([path.normalize('src/cli/key-commands.ts')]);
  });
});
