import type { CliCommand } from './command.ts';

/** Every CLI command. Adding one is a file under src/cli/ (or beside its feature) and a line here. */
export const commands: CliCommand[] = [];
