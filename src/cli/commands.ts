import type { CliCommand } from './command.ts';

/**
 * Every CLI command, grouped by its first word and imported only when that word is typed: a command
 * loads its own module (and what that imports), not the whole service, so `casebridge org create`
 * starts fast. Adding a command is a file under src/cli/ (or beside its feature) and a line here.
 */
export const commandGroups: Record<string, () => Promise<CliCommand[]>> = {
  org: async () => [...(await import('./org-commands.ts')).orgCommands, ...(await import('./sign-in-commands.ts')).signInCommands],
  apikey: async () => (await import('./apikey-commands.ts')).apikeyCommands,
  user: async () => (await import('./user-commands.ts')).userCommands,
  db: async () => (await import('./db-commands.ts')).dbCommands,
  seed: async () => (await import('./seed-commands.ts')).seedCommands,
  revoke: async () => (await import('./revocation-commands.ts')).revocationCommands.filter((c) => c.words[0] === 'revoke'),
  receipts: async () => (await import('./revocation-commands.ts')).revocationCommands.filter((c) => c.words[0] === 'receipts'),
  transfers: async () => (await import('./transfer-commands.ts')).transferCommands,
  keys: async () => (await import('./key-commands.ts')).keyCommands,
};

/** The commands whose first word is `word` (none for an unknown word). */
export async function commandsFor(word: string | undefined): Promise<CliCommand[]> {
  const load = word !== undefined && Object.hasOwn(commandGroups, word) ? commandGroups[word] : undefined;
  return load ? load() : [];
}

/** Every command, for the usage text (loads every group). */
export async function allCommands(): Promise<CliCommand[]> {
  return (await Promise.all(Object.values(commandGroups).map((load) => load()))).flat();
}
