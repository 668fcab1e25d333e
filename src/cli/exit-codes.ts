/**
 * The CLI's exit codes, one meaning each, so scripts can tell "typed it wrong" from "it failed".
 * Listed by `casebridge --help` and in the README's Command line section.
 */
export const EXIT = {
  /** The command did what it was asked. */
  ok: 0,
  /** It ran and failed, or found a problem (a broken transfer-log chain, an invalid receipt, the embedded database held by another process). */
  failure: 1,
  /** Usage: an unknown command or option, a missing or invalid argument, an unknown organization. */
  usage: 2,
  /** The environment's configuration is invalid (the message names each variable). */
  config: 3,
  /** A service the command needs is unreachable (Redis). */
  unavailable: 4,
} as const;

/** The exit-code table as `--help` prints it. */
export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  ok',
  '  1  failure (the command ran and failed or found a problem; the embedded database is held by another process)',
  '  2  usage error (unknown command or option, missing or invalid argument)',
  '  3  invalid configuration (environment variables)',
  '  4  a needed service is unreachable (Redis)',
].join('\n');
