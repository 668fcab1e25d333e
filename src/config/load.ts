import path from 'node:path';
import { configSchema, DEV_DEFAULTS, PRODUCTION_SECRETS, type RawConfig } from './schema.ts';
import { readSecretFiles } from './secret-files.ts';

/** Where the database lives, derived from DATABASE_URL. */
export type DatabaseTarget = { kind: 'postgres'; url: string; schema?: string } | { kind: 'pglite'; dataDir: string | null /* null = in memory */ };

/** Provider endpoints, derived from SANDBOX_URL or the per-provider variables; real providers by default. */
export interface ProviderEndpoints {
  googleOidcIssuer: string;
  googleAuthUrl: string;
  googleTokenUrl: string;
  googleRevokeUrl: string;
  /** Origin the Google API clients use as rootUrl (only the origin is kept by googleapis). */
  googleApiRootUrl: string;
}

export interface Config extends Omit<RawConfig, 'TOKEN_ENCRYPTION_KEYS' | 'SESSION_SECRET' | 'PUBLIC_BASE_URL'> {
  PUBLIC_BASE_URL: string;
  TOKEN_ENCRYPTION_KEYS: string;
  SESSION_SECRET: string;
  database: DatabaseTarget;
  providers: ProviderEndpoints;
  /** Secrets that fell back to development defaults (logged as a warning at start). */
  usingDevSecrets: string[];
}

/** A configuration error naming every offending variable and what it expects. */
export class ConfigError extends Error {
  readonly code = 'invalid_configuration';
  constructor(readonly problems: { variable: string; expected: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p.variable}: ${p.expected}`).join('\n')}\n` +
        'Fix the environment variables above (see the configuration table in README.md).',
    );
    this.name = 'ConfigError';
  }
}

function resolveDatabase(url: string | undefined, dataDir: string, schema: string | undefined): DatabaseTarget {
  if (!url) return { kind: 'pglite', dataDir: path.resolve(dataDir, 'pglite') };
  if (url === 'pglite://memory') return { kind: 'pglite', dataDir: null };
  if (url.startsWith('pglite://')) return { kind: 'pglite', dataDir: path.resolve(url.slice('pglite://'.length)) };
  return { kind: 'postgres', url, ...(schema ? { schema } : {}) };
}

function resolveProviders(env: RawConfig): ProviderEndpoints {
  const sandbox = env.SANDBOX_URL?.replace(/\/$/, '');
  return {
    googleOidcIssuer: env.GOOGLE_OIDC_ISSUER ?? (sandbox ? `${sandbox}/google` : 'https://accounts.google.com'),
    googleAuthUrl: env.GOOGLE_OAUTH_AUTH_URL ?? (sandbox ? `${sandbox}/google/o/oauth2/v2/auth` : 'https://accounts.google.com/o/oauth2/v2/auth'),
    googleTokenUrl: env.GOOGLE_OAUTH_TOKEN_URL ?? (sandbox ? `${sandbox}/google/token` : 'https://oauth2.googleapis.com/token'),
    googleRevokeUrl: env.GOOGLE_OAUTH_REVOKE_URL ?? (sandbox ? `${sandbox}/google/revoke` : 'https://oauth2.googleapis.com/revoke'),
    googleApiRootUrl: env.GOOGLE_API_ROOT_URL ?? (sandbox ? `${new URL(sandbox).origin}/` : 'https://www.googleapis.com/'),
  };
}

/**
 * Validates the environment once. Throws ConfigError listing every bad variable; never prints values
 * (they may be secrets).
 */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, as in most deployment tools.
  const fromEnv = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')) as Record<string, string>;
  const { values: cleaned, problems: fileProblems } = readSecretFiles(fromEnv);
  if (fileProblems.length) throw new ConfigError(fileProblems);
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => ({ variable: i.path.join('.') || '(environment)', expected: i.message }));
    // zod skips the production-secrets refinement when another field failed: report those too, so
    // one run names every offending variable.
    if (cleaned.NODE_ENV === 'production') {
      for (const name of PRODUCTION_SECRETS) {
        if (!cleaned[name] && !problems.some((p) => p.variable === name)) {
          problems.push({ variable: name, expected: 'required when NODE_ENV=production (no default for secrets)' });
        }
      }
    }
    throw new ConfigError(problems);
  }
  const raw = parsed.data;
  const usingDevSecrets: string[] = [];
  const secret = (name: keyof typeof DEV_DEFAULTS): string => {
    const v = raw[name];
    if (v) return v;
    usingDevSecrets.push(name);
    return DEV_DEFAULTS[name];
  };
  const TOKEN_ENCRYPTION_KEYS = secret('TOKEN_ENCRYPTION_KEYS');
  const problems: { variable: string; expected: string }[] = [];
  for (const pair of TOKEN_ENCRYPTION_KEYS.split(',')) {
    const [, b64 = ''] = pair.split(':');
    if (Buffer.from(b64, 'base64').length !== 32) {
      problems.push({ variable: 'TOKEN_ENCRYPTION_KEYS', expected: 'each key must decode from base64 to exactly 32 bytes' });
      break;
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return {
    ...raw,
    // In a Redis Cluster the prefix is a hash tag: every key (and BullMQ's `bull:{prefix}:…`) maps to
    // one slot, so multi-key scripts and transactions never cross slots.
    REDIS_PREFIX: raw.REDIS_CLUSTER_NODES ? `{${raw.REDIS_PREFIX}}` : raw.REDIS_PREFIX,
    PUBLIC_BASE_URL: (raw.PUBLIC_BASE_URL ?? `http://localhost:${raw.PORT}`).replace(/\/$/, ''),
    TOKEN_ENCRYPTION_KEYS,
    SESSION_SECRET: secret('SESSION_SECRET'),
    database: resolveDatabase(raw.DATABASE_URL, raw.DATA_DIR, raw.DATABASE_SCHEMA),
    providers: resolveProviders(raw),
    usingDevSecrets,
  };
}
