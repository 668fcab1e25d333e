import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

/**
 * An S3-compatible server on a loopback port for one test file: `s3rver` (a Node implementation of
 * the S3 REST API over a directory). It knows one access key id, `S3RVER`, and refuses others, but
 * does not verify SigV4 signatures. The AWS SDK v3 talks to it unchanged with path-style addressing.
 *
 * Checked against what the blob store uses: PUT/GET (ranges)/HEAD/DELETE object, CopyObject,
 * multipart uploads (lib-storage), ListObjectsV2. Two gaps, both stated where they matter:
 * ListMultipartUploads answers NotImplemented (the store then skips aborting stale multipart
 * uploads), and ListObjectsV2 fails when a listing needs a second page (its continuation token uses
 * DES, which OpenSSL 3 no longer offers), so tests keep under 1,000 objects per prefix.
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
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
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
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
