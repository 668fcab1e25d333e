import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

/** The variables a ConfigError names, from loading `env`. */
function offending(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => p.variable);
  }
  throw new Error('expected a ConfigError');
}

const secrets = {
  TOKEN_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  SESSION_SECRET: 's'.repeat(40),
  AUDIT_SIGNING_KEY: 'placeholder-signing-key',
};

describe('configuration', () => {
  it('starts with development defaults and an embedded database under DATA_DIR', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.BULK_MAX_ITEMS).toBeGreaterThanOrEqual(1000);
    expect(config.database).toMatchObject({ kind: 'pglite' });
    expect((config.database as { dataDir: string }).dataDir).toMatch(/data[/\\]pglite$/);
    expect(config.PUBLIC_BASE_URL).toBe('http://localhost:3000');
    expect(config.usingDevSecrets.sort()).toEqual(['SESSION_SECRET', 'TOKEN_ENCRYPTION_KEYS']);
  });

  it('reads pglite://memory, pglite:///path and postgres URLs', () => {
    expect(loadConfig({ DATABASE_URL: 'pglite://memory' }).database).toEqual({ kind: 'pglite', dataDir: null });
    expect(loadConfig({ DATABASE_URL: 'pglite:///var/lib/cb' }).database).toEqual({ kind: 'pglite', dataDir: '/var/lib/cb' });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d' }).database).toEqual({ kind: 'postgres', url: 'postgres://u@h:5432/d' });
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', LOG_LEVEL: '' }).PORT).toBe(3000);
  });

  it('names each bad variable and what it expects', () => {
    expect(offending({ PORT: 'eighty', DATABASE_URL: 'mysql://x', REDIS_URL: 'localhost:6379', LOG_LEVEL: 'loud', BULK_MAX_ITEMS: '0' }).sort()).toEqual([
      'BULK_MAX_ITEMS',
      'DATABASE_URL',
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
    ]);
    try {
      loadConfig({ DATABASE_URL: 'mysql://x' });
    } catch (err) {
      expect((err as Error).message).toContain('DATABASE_URL: expected postgres://');
    }
  });

  it('refuses to start in production without secrets, naming each', () => {
    expect(offending({ NODE_ENV: 'production' }).sort()).toEqual(['AUDIT_SIGNING_KEY', 'SESSION_SECRET', 'TOKEN_ENCRYPTION_KEYS']);
    expect(loadConfig({ NODE_ENV: 'production', ...secrets }).usingDevSecrets).toEqual([]);
  });

  it('refuses encryption keys that are not 32 bytes, without echoing them', () => {
    const key = `k1:${Buffer.alloc(16, 1).toString('base64')}`;
    try {
      loadConfig({ TOKEN_ENCRYPTION_KEYS: key, SESSION_SECRET: 'short' });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable)).toEqual(['SESSION_SECRET']);
      expect((err as Error).message).not.toContain('short');
    }
    try {
      loadConfig({ TOKEN_ENCRYPTION_KEYS: key });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([{ variable: 'TOKEN_ENCRYPTION_KEYS', expected: expect.stringContaining('32 bytes') }]);
      expect((err as Error).message).not.toContain(key);
    }
  });

  it('the service exits with status 2 and names the variable when the configuration is bad', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'api'], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: { PATH: process.env.PATH, PORT: 'not-a-port' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('PORT');
    expect(res.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });
});
