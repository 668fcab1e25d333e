import type { CliCommand, CliCommandGroup } from './command.ts';

/**
 * Every CLI command group, in the order `casebridge --help` lists them. A group's module is imported
 * only when the command line names the group (or for shell completion), so `casebridge --help`
 * imports no command and `casebridge org list` imports the `org` commands, not the SAML parser, the
 * queues or the workers. Adding a command is a file under src/cli/ and a line here.
 */
export const commandGroups: CliCommandGroup[] = [
  {
    words: ['org'],
    summary: 'Organizations (firms): create one with its first API key and admin, list them',
    load: async () => (await import('./org-commands.ts')).orgCommands,
  },
  {
    words: ['org', 'sign-in-policy'],
    summary: "An organization's sign-in policy: Workspace domains, provisioning, linking by e-mail",
    load: async () => (await import('./sign-in-commands.ts')).signInCommands.filter((c) => c.words[1] === 'sign-in-policy'),
  },
  {
    words: ['org', 'saml'],
    summary: "An organization's SAML identity provider, from its metadata",
    load: async () => (await import('./sign-in-commands.ts')).signInCommands.filter((c) => c.words[1] === 'saml'),
  },
  {
    words: ['user'],
    summary: 'Users of an organization and their single-use sign-in links',
    load: async () => (await import('./user-commands.ts')).userCommands,
  },
  {
    words: ['apikey'],
    summary: 'API keys the case-management app pushes data with',
    load: async () => (await import('./apikey-commands.ts')).apikeyCommands,
  },
  {
    words: ['revoke'],
    summary: 'Revoke connections now (same pipeline as POST /v1/admin/revocations)',
    load: async () => (await import('./revocation-commands.ts')).revocationCommands.filter((c) => c.words[0] === 'revoke'),
  },
  {
    words: ['receipts'],
    summary: 'Signed revocation receipts: print one, verify one offline, print the public key',
    load: async () => (await import('./revocation-commands.ts')).revocationCommands.filter((c) => c.words[0] === 'receipts'),
  },
  {
    words: ['transfers'],
    summary: 'The transfer log: verify its hash chains, seal a checkpoint, enforce retention',
    load: async () => (await import('./transfer-commands.ts')).transferCommands,
  },
  {
    words: ['keys'],
    summary: 'Encryption keys: re-encrypt stored tokens and documents under the newest key',
    load: async () => (await import('./key-commands.ts')).keyCommands,
  },
  {
    words: ['db'],
    summary: 'The database: apply pending migrations',
    load: async () => (await import('./db-commands.ts')).dbCommands,
  },
  {
    words: ['seed'],
    summary: "The demo's sample firms",
    load: async () => (await import('./seed-commands.ts')).seedCommands,
  },
];

/**
 * The group a command line runs: the one with the most leading words matching its first words
 * (`org saml set …` → `org saml`), or undefined for an unknown or missing command.
 */
export function groupFor(words: string[]): CliCommandGroup | undefined {
  let best: CliCommandGroup | undefined;
  for (const g of commandGroups) {
    if (g.words.every((w, i) => words[i] === w) && (!best || g.words.length > best.words.length)) best = g;
  }
  return best;
}

/** Every command of every group (shell completion; the tests). */
export async function allCommands(): Promise<CliCommand[]> {
  return (await Promise.all(commandGroups.map((g) => g.load()))).flat();
}
