import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a logged object. Secrets (tokens, keys, SAML
 * assertions, cookies) and document content never reach a log line.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.refreshToken',
  '*.refresh_token',
  '*.idToken',
  '*.id_token',
  '*.apiKey',
  '*.secret',
  '*.clientSecret',
  '*.SAMLResponse',
  '*.samlResponse',
  '*.content',
  '*.ciphertext',
];

/**
 * Creates the process logger; `level: 'silent'` in tests. `stderr` keeps stdout clean for command
 * line output (e.g. `--json`); `destination` sends the lines elsewhere (tests read them).
 */
export function createLogger(options: { level: string; name?: string; stderr?: boolean; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.name ?? 'casebridge',
      level: options.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
    },
    options.destination ?? (options.stderr ? pino.destination(2) : undefined),
  );
}
