import { apikeyCommands } from './apikey-commands.ts';
import type { CliCommand } from './command.ts';
import { dbCommands } from './db-commands.ts';
import { keyCommands } from './key-commands.ts';
import { orgCommands } from './org-commands.ts';
import { seedCommands } from './seed-commands.ts';
import { signInCommands } from './sign-in-commands.ts';
import { userCommands } from './user-commands.ts';
import { revocationCommands } from './revocation-commands.ts';
import { transferCommands } from './transfer-commands.ts';

/** Every CLI command. Adding one is a file under src/cli/ (or beside its feature) and a line here. */
export const commands: CliCommand[] = [
  ...orgCommands,
  ...signInCommands,
  ...apikeyCommands,
  ...userCommands,
  ...dbCommands,
  ...seedCommands,
  ...revocationCommands,
  ...transferCommands,
  ...keyCommands,
];
