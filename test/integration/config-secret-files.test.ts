import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blobStoreFor, FileBlobStore, LazyBlobStore } from '../../src/blobs/blob-store.ts';
import { S3BlobStore } from '../../src/blobs/s3-blob-store.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { configSchema, SECRET_VARIABLES } from '../../src/config/schema.ts';

/** `<NAME>_FILE` reads a secret from a file (Docker and Kubernetes secrets) for every secret variable. */
describe('secrets read from files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-secrets-'));
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('every secret variable is in the schema', () => {
    for (const name of SECRET_VARIABLES) expect(Object.keys(configSchema.shape)).toContain(name);
  });

  it('reads each secret from NAME_FILE, dropping the final line break', () => {
    const key = `k1:${Buffer.alloc(32, 9).toString('base64')}`;
    const config = loadConfig({
      NODE_ENV: 'production',
      TOKEN_ENCRYPTION_KEYS_FILE: file('keys', `${key}\n`),
      SESSION_SECRET_FILE: file('session', `${'s'.repeat(40)}\r\n`),
      AUDIT_SIGNING_KEY_FILE: file('audit', 'placeholder-signing-key'),
      REDIS_URL_FILE: file('redis', 'redis://:p%40ss@redis:6379\n'),
      DATABASE_URL_FILE: file('db', 'postgres://casebridge:pw@postgres:5432/casebridge\n'),
      S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      S3_SECRET_ACCESS_KEY_FILE: file('s3', 'wJalrXUtnFEMI/K7MDENG\n'),
    });
    expect(config.TOKEN_ENCRYPTION_KEYS).toBe(key);
    expect(config.SESSION_SECRET).toBe('s'.repeat(40));
    expect(config.AUDIT_SIGNING_KEY).toBe('placeholder-signing-key');
    expect(config.REDIS_URL).toBe('redis://:p%40ss@redis:6379');
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://casebridge:pw@postgres:5432/casebridge' });
    expect(config.S3_SECRET_ACCESS_KEY).toBe('wJalrXUtnFEMI/K7MDENG');
    expect(config.usingDevSecrets).toEqual([]);
    // The _FILE variables themselves are not part of the configuration.
    expect(Object.keys(config).some((k) => k.endsWith('_FILE'))).toBe(false);
  });

  it('refuses NAME together with NAME_FILE, a missing or empty file, naming the variable and never the content', () => {
    const both = problems({ SESSION_SECRET: 'x'.repeat(40), SESSION_SECRET_FILE: file('both', 'y'.repeat(40)) });
    expect(both.problems).toEqual([{ variable: 'SESSION_SECRET_FILE', expected: expect.stringContaining('not both') }]);
    const missing = problems({ METRICS_TOKEN_FILE: path.join(dir, 'absent') });
    expect(missing.problems).toEqual([{ variable: 'METRICS_TOKEN_FILE', expected: expect.stringContaining('ENOENT') }]);
    expect(problems({ SUPER_ADMIN_TOKEN_FILE: file('empty', '\n') }).problems[0]?.variable).toBe('SUPER_ADMIN_TOKEN_FILE');
    expect(problems({ GOOGLE_CLIENT_SECRET_FILE: dir }).problems[0]?.variable).toBe('GOOGLE_CLIENT_SECRET_FILE');
    // A value from a file is validated like any other, and the message does not repeat it.
    const short = problems({ SESSION_SECRET_FILE: file('short', 'too-short-secret-value') });
    expect(short.problems.map((p) => p.variable)).toEqual(['SESSION_SECRET']);
    expect(short.message).not.toContain('too-short-secret-value');
  });

  it('reads the OTLP exporter headers (a collector credential) from OTEL_EXPORTER_OTLP_HEADERS_FILE', () => {
    const headers = 'authorization=Bearer otlp-example-token,x-scope=casebridge';
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_HEADERS_FILE: file('otlp', `${headers}\n`) });
    expect(config.OTEL_EXPORTER_OTLP_HEADERS).toBe(headers);
    // Validated like the variable itself; the message names the variable, never the file's content.
    const bad = problems({ OTEL_EXPORTER_OTLP_HEADERS_FILE: file('otlp-bad', 'Bearer otlp-leaked-token') });
    expect(bad.problems.map((p) => p.variable)).toEqual(['OTEL_EXPORTER_OTLP_HEADERS']);
    expect(bad.message).not.toContain('otlp-leaked-token');
    const both = problems({ OTEL_EXPORTER_OTLP_HEADERS: 'a=b', OTEL_EXPORTER_OTLP_HEADERS_FILE: file('otlp-both', 'a=c') });
    expect(both.problems).toEqual([{ variable: 'OTEL_EXPORTER_OTLP_HEADERS_FILE', expected: expect.stringContaining('not both') }]);
  });

  it('ignores _FILE for variables that are not secrets', () => {
    expect(loadConfig({ PORT_FILE: file('port', '8080') }).PORT).toBe(3000);
  });
});

describe('object storage configuration', () => {
  it('accepts s3:// and file:/// blob store URLs and refuses others', () => {
    expect(loadConfig({ BLOB_STORE_URL: 's3://firm-docs/casebridge' }).BLOB_STORE_URL).toBe('s3://firm-docs/casebridge');
    expect(loadConfig({ BLOB_STORE_URL: 'file:///srv/blobs' }).BLOB_STORE_URL).toBe('file:///srv/blobs');
    expect(() => loadConfig({ BLOB_STORE_URL: 'http://bucket' })).toThrow(/BLOB_STORE_URL/);
    expect(() => loadConfig({ BLOB_STORE_URL: 's3://UPPER' })).toThrow(/BLOB_STORE_URL/);
  });

  it('builds the store the URL names: the data directory by default, a file:/// directory, or a bucket', async () => {
    expect(blobStoreFor(loadConfig({}))).toBeInstanceOf(FileBlobStore);
    expect(blobStoreFor(loadConfig({ BLOB_STORE_URL: 'file:///srv/blobs' }))).toBeInstanceOf(FileBlobStore);
    const s3 = loadConfig({ BLOB_STORE_URL: 's3://firm-docs/casebridge', S3_ENDPOINT: 'http://127.0.0.1:9', S3_FORCE_PATH_STYLE: 'true' });
    expect(s3.S3_FORCE_PATH_STYLE).toBe(true);
    // The bucket's store loads the S3 SDK on first use only.
    const lazy = blobStoreFor(s3);
    expect(lazy).toBeInstanceOf(LazyBlobStore);
    expect(await (lazy as LazyBlobStore).loaded()).toBeInstanceOf(S3BlobStore);
  });

  it('wants S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY together', () => {
    try {
      loadConfig({ S3_ACCESS_KEY_ID: 'AKIDEXAMPLE' });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable)).toEqual(['S3_SECRET_ACCESS_KEY']);
    }
  });
});
