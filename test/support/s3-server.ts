import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * An S3-compatible server on a loopback port for one test file: `s3rver` (a Node implementation of
 * the S3 REST API over a directory). It knows one access key id, `S3RVER`, and refuses others, but
 * does not verify SigV4 signatures. The AWS SDK v3 talks to it unchanged with path-style addressing.
 *
 * Checked against what the blob store uses: PUT/GET (ranges)/HEAD/DELETE object, CopyObject,
 * multipart uploads (lib-storage), ListObjectsV2 with continuation tokens. One gap:
 * ListMultipartUploads answers NotImplemented (the store then skips aborting stale multipart
 * uploads). Its continuation tokens use DES, which OpenSSL 3 offers only in its legacy provider,
 * so the server runs in a child process started with `--openssl-legacy-provider`.
 */
export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Configuration variables selecting this server's bucket under `prefix`. */
  env(prefix: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startTestS3(bucket = 'casebridge-test'): Promise<TestS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-s3-'));
  // A process of its own: the server does not share the test's event loop, and it can have the
  // legacy OpenSSL provider its continuation tokens need (DES), so listings page as S3's do.
  const code = `import S3rver from 's3rver';
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.env.S3_DIR, configureBuckets: [{ name: process.env.S3_BUCKET }] });
    const { port } = await server.run();
    process.stdout.write(port + '\\n');`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, S3_DIR: directory, S3_BUCKET: bucket },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    void exited.then(() => reject(new Error('the S3 test server exited before it listened')));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    env: (prefix) => ({
      BLOB_STORE_URL: `s3://${bucket}/${prefix}`,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
    }),
    async close() {
      child.kill();
      await exited;
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
