import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema, SECRET_VARIABLES } from '../../src/config/schema.ts';

/**
 * docker-compose.yml cannot be started here (no Docker), so its structure is checked: worker
 * replicas, secrets from files only, a Redis password, the optional object store, and every
 * variable it gives the service known to the configuration schema.
 */

interface Service {
  image?: string;
  build?: string;
  command?: string | string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  profiles?: string[];
  deploy?: { replicas?: string | number };
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition: string; required?: boolean }>;
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}

const text = fs.readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
// `merge` resolves the `<<: *casebridge-service` keys as Compose does.
const compose = parse(text, { merge: true }) as Compose;
const casebridge = ['migrate', 'api', 'worker'] as const;
const known = Object.keys(configSchema.shape);
/** A Compose variable with a default, as written in the file: `${NAME:-fallback}`. */
const composeVariable = (name: string, fallback: string) => `${'$'}{${name}:-${fallback}}`;

describe('docker-compose.yml', () => {
  it('runs PostgreSQL, Redis, the migration, the API and the workers, and MinIO only with the s3 profile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'migrate', 'minio', 'minio-bucket', 'postgres', 'redis', 'worker']);
    for (const name of casebridge) expect(compose.services[name]!.image).toBe('casebridge:local');
    expect(compose.services.minio!.profiles).toEqual(['s3']);
    expect(compose.services['minio-bucket']!.profiles).toEqual(['s3']);
    expect(compose.services.minio!.image).toMatch(/^minio\/minio:RELEASE\./);
    for (const name of ['api', 'worker'] as const) {
      expect(compose.services[name]!.depends_on?.['minio-bucket']).toEqual({ condition: 'service_completed_successfully', required: false });
    }
    expect(compose.services.api!.environment?.BLOB_STORE_URL).toBe(composeVariable('BLOB_STORE_URL', ''));
  });

  it('scales the workers with deploy.replicas and publishes no port from them', () => {
    expect(compose.services.worker!.deploy?.replicas).toBe(composeVariable('WORKER_REPLICAS', '2'));
    expect(compose.services.worker).not.toHaveProperty('ports');
    expect(compose.services.worker).not.toHaveProperty('container_name');
  });

  it('gives the service every secret as a file, never as a value in the environment', () => {
    for (const name of casebridge) {
      const service = compose.services[name]!;
      const env = service.environment ?? {};
      for (const secret of SECRET_VARIABLES) expect(env, `${name} ${secret}`).not.toHaveProperty(secret);
      for (const required of ['DATABASE_URL', 'REDIS_URL', 'TOKEN_ENCRYPTION_KEYS', 'SESSION_SECRET', 'AUDIT_SIGNING_KEY']) {
        const file = env[`${required}_FILE`];
        expect(file, `${name} ${required}_FILE`).toMatch(/^\/run\/secrets\/[a-z0-9_]+$/);
      }
      // Every variable is one the configuration knows (a typo would be silently ignored).
      for (const key of Object.keys(env)) {
        const base = key.endsWith('_FILE') ? key.slice(0, -'_FILE'.length) : key;
        expect(key.endsWith('_FILE') ? (SECRET_VARIABLES as readonly string[]).includes(base) : known.includes(key), key).toBe(true);
      }
    }
    expect(compose.services.postgres!.environment).toMatchObject({ POSTGRES_PASSWORD_FILE: '/run/secrets/postgres_password' });
    expect(compose.services.postgres!.environment).not.toHaveProperty('POSTGRES_PASSWORD');
  });

  it('mounts each secret file a service reads, and each declared secret comes from a file', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const used = [...JSON.stringify(service).matchAll(/\/run\/secrets\/([a-z0-9_]+)/g)].map((m) => m[1]!);
      for (const secret of used) expect(service.secrets ?? [], `${name} reads ${secret}`).toContain(secret);
      for (const secret of service.secrets ?? []) expect(compose.secrets[secret]?.file, secret).toMatch(/^\.\/secrets\/[a-z0-9_]+$/);
    }
  });

  it('puts a password on Redis, read from its secret, and the health check authenticates', () => {
    const redis = compose.services.redis!;
    const command = ([] as string[]).concat(redis.command ?? []).join(' ');
    expect(command).toMatch(/requirepass/);
    expect(command).toContain('/run/secrets/redis_password');
    expect(command).toMatch(/--appendonly yes/);
    // Through the image's entrypoint, which drops root for the redis user.
    expect(command).toMatch(/exec docker-entrypoint\.sh redis-server \/tmp\/redis\.conf/);
    expect(redis.secrets).toEqual(['redis_password']);
    expect(redis.healthcheck?.test?.join(' ')).toMatch(/REDISCLI_AUTH=.*\/run\/secrets\/redis_password.*redis-cli ping/);
  });

  it('escapes shell substitutions from Compose interpolation', () => {
    // Compose would replace `$(…)` or `${VAR}` itself; the shell must get `$$(…)` / `$${VAR}`.
    const yamlLines = text
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .join('\n');
    const unescaped = yamlLines.replaceAll('$$', '').match(/\$\(|\$\{(?![A-Z][A-Z0-9_]*(:?[-?][^}]*)?\})/g);
    expect(unescaped).toBeNull();
  });
});
