import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOB_MAGIC, CHUNK_BYTES, sealedKeyId } from '../../src/blobs/blob-cipher.ts';
import { blobStoreFor, type LazyBlobStore } from '../../src/blobs/blob-store.ts';
import { collectBlobs } from '../../src/blobs/collect.ts';
import { S3BlobStore, s3ClientFor } from '../../src/blobs/s3-blob-store.ts';
import { keyCommands } from '../../src/cli/key-commands.ts';
import { parseKeyring } from '../../src/connections/token-vault.ts';
import { bearer, type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { startTestS3, type TestS3 } from '../support/s3-server.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * Documents in an S3-compatible bucket (`BLOB_STORE_URL=s3://…`), against an S3 server on loopback:
 * the same encryption, addresses, streaming, rotation and collection as the directory store.
 */

const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const PREFIX = 'firm-docs';

async function collect(stream: AsyncIterable<Uint8Array>, into: Buffer[] = []): Promise<Buffer> {
  for await (const part of stream) into.push(Buffer.from(part));
  return Buffer.concat(into);
}

describe('document blobs in an S3-compatible bucket', () => {
  let s3: TestS3;
  let t: TestServices;
  let store: S3BlobStore;
  let raw: S3Client;
  let org: SeededOrg;
  const objectKey = (kind: string, name: string) => `${PREFIX}/${kind}/${name}`;
  const rawObject = async (key: string) =>
    Buffer.from(await (await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToByteArray());
  const writeRaw = (key: string, body: Uint8Array) => raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
  const keysUnder = async (kind: string) =>
    ((await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${PREFIX}/${kind}/` }))).Contents ?? []).map((c) => c.Key!);
  const putDoc = (externalId: string, content: Buffer) =>
    t.app.request(`/v1/ingest/documents/${externalId}`, {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ caseExternalId: 'c-1', title: externalId, fileName: `${externalId}.txt`, content: content.toString('base64') }),
    });

  beforeAll(async () => {
    s3 = await startTestS3();
    t = await createTestServices({ TOKEN_ENCRYPTION_KEYS: k1, ...s3.env(PREFIX) });
    store = (await (t.services.blobs as LazyBlobStore).loaded()) as S3BlobStore;
    raw = s3ClientFor({ ...t.config });
    org = await seedOrg(t.services, 'S3 Firm');
    const res = await t.app.request('/v1/ingest/cases/c-1', {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ number: 'S3-1', title: 'Case' }),
    });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await t?.cleanup();
    await s3?.close();
  });

  it('is selected by BLOB_STORE_URL, and a document uploaded through the API lands encrypted in the bucket', async () => {
    expect(store).toBeInstanceOf(S3BlobStore);
    const secret = 'Settlement offer: EUR 1,250,000 — privileged and confidential. ';
    const content = Buffer.from(secret.repeat(Math.ceil((2.5 * CHUNK_BYTES) / secret.length)));
    expect((await putDoc('d-1', content)).status).toBe(201);

    const stored = await rawObject(objectKey('blobs', sha(content)));
    expect(stored.subarray(0, BLOB_MAGIC.length).equals(BLOB_MAGIC)).toBe(true);
    expect(sealedKeyId(stored)).toBe('k1');
    expect(stored.includes('Settlement offer')).toBe(false);
    expect(stored.includes(content.subarray(1000, 1032))).toBe(false);
    expect(Buffer.from((await store.get(sha(content)))!).equals(content)).toBe(true);
    // Nothing went to the local directory.
    expect(fs.existsSync(path.join(t.config.DATA_DIR, 'blobs'))).toBe(false);
  });

  it('streams any size through the chunk and multipart-part boundaries and back', async () => {
    for (const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 12 * 1024 * 1024 + 3]) {
      const content = randomBytes(size);
      async function* pieces() {
        for (let i = 0; i < size; i += 77_777) yield content.subarray(i, i + 77_777);
      }
      const { sha256, size: stored } = await store.putStream(pieces());
      expect([sha256, stored]).toEqual([sha(content), size]);
      expect((await collect((await store.open(sha256))!)).equals(content)).toBe(true);
      expect(await store.has(sha256)).toBe(true);
    }
    expect(await store.open('0'.repeat(64))).toBeNull();
    expect(await store.get('0'.repeat(64))).toBeNull();
    // The temporary upload keys are gone once each blob is at its address.
    expect(await keysUnder('incoming')).toEqual([]);
  });

  it('refuses an altered blob, and a genuine blob moved under another address', async () => {
    const content = randomBytes(3 * CHUNK_BYTES);
    const { sha256 } = await store.put(content);
    const original = await rawObject(objectKey('blobs', sha256));
    const headerBytes = original.length - (3 * (CHUNK_BYTES + 16) + 48);
    const flipped = Buffer.from(original);
    flipped[headerBytes + CHUNK_BYTES + 16 + 100]! ^= 1;
    await writeRaw(objectKey('blobs', sha256), flipped);
    const released: Buffer[] = [];
    await expect(collect((await store.open(sha256))!, released)).rejects.toMatchObject({ code: 'blob_tampered' });
    expect(Buffer.concat(released).equals(content.subarray(0, CHUNK_BYTES))).toBe(true);

    const other = await store.put(randomBytes(100));
    await writeRaw(objectKey('blobs', other.sha256), original);
    await expect(store.get(other.sha256)).rejects.toMatchObject({ code: 'blob_tampered' });
    await writeRaw(objectKey('blobs', sha256), original);
    expect(Buffer.from((await store.get(sha256))!).equals(content)).toBe(true);
    expect(await store.removeIfStoredBefore(other.sha256, new Date(Date.now() + 60_000))).toBe(true);
  });

  it('keys rotate re-encrypts every blob in the bucket under the newest key and keeps its stored-at time', async () => {
    const content = randomBytes(CHUNK_BYTES + 5);
    const { sha256 } = await store.put(content);
    const stampedAt = (await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: objectKey('stamps', sha256) }))).LastModified;

    const config = { ...t.services.config, TOKEN_ENCRYPTION_KEYS: `${k2},${k1}` };
    const lines: string[] = [];
    const code = await keyCommands[0]!.run({ args: {}, positionals: [], config, services: { ...t.services, config }, print: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(/document blob\(s\) re-encrypted/);
    expect(code).toBe(0);

    const blobKeys = await keysUnder('blobs');
    expect(blobKeys.length).toBeGreaterThan(3);
    for (const key of blobKeys) expect(sealedKeyId(await rawObject(key))).toBe('k2');
    const after = (await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: objectKey('stamps', sha256) }))).LastModified;
    expect(after?.getTime()).toBe(stampedAt?.getTime());
    const onlyNew = blobStoreFor({ ...config, TOKEN_ENCRYPTION_KEYS: k2 });
    expect(Buffer.from((await onlyNew.get(sha256))!).equals(content)).toBe(true);
    await expect(blobStoreFor({ ...config, TOKEN_ENCRYPTION_KEYS: k1 }).get(sha256)).rejects.toMatchObject({ code: 'unknown_key' });

    const again: string[] = [];
    await keyCommands[0]!.run({ args: {}, positionals: [], config, services: { ...t.services, config }, print: (l) => again.push(l) });
    expect(again.join('\n')).toMatch(/^0 document blob/m);
  });

  it('collect-blobs removes bytes no live document refers to and keeps live and just-stored ones', async () => {
    const rotated = blobStoreFor({ ...t.services.config, TOKEN_ENCRYPTION_KEYS: `${k2},${k1}` });
    const services = { ...t.services, blobs: rotated };
    expect((await putDoc('kept', Buffer.from('kept bytes'))).status).toBe(201);
    expect((await putDoc('gone', Buffer.from('deleted bytes'))).status).toBe(201);
    expect((await t.app.request('/v1/ingest/documents/gone', { method: 'DELETE', headers: bearer(org.apiKey) })).status).toBe(200);
    await rotated.put(Buffer.from('rolled back'));
    // S3 keeps times to the second: the cut-off is a whole second after everything above.
    await new Promise((r) => setTimeout(r, 1100));
    const cutoff = new Date(Math.floor(Date.now() / 1000) * 1000);
    await rotated.put(Buffer.from('uploading right now'));

    const result = await collectBlobs(services, { now: cutoff, graceMs: 0 });
    expect(result.removed).toBeGreaterThanOrEqual(2);
    expect(await rotated.has(sha('kept bytes'))).toBe(true);
    expect(await rotated.has(sha('uploading right now'))).toBe(true);
    expect(await rotated.has(sha('deleted bytes'))).toBe(false);
    expect(await rotated.has(sha('rolled back'))).toBe(false);
    expect((await keysUnder('stamps')).some((k) => k.endsWith(sha('rolled back')))).toBe(false);
    expect(await keysUnder('holds')).toEqual([]);
    expect(await collectBlobs(services, { now: cutoff, graceMs: 0 })).toMatchObject({ removed: 0 });
  });

  it('an upload that lands while a collection holds its blob stores the bytes again once the collection removed them', async () => {
    const quick = new S3BlobStore(raw, s3.bucket, `${PREFIX}/`, parseKeyring(k1), { holdDeadlineMs: 200, holdWaitMs: 3000 });
    const bytes = Buffer.from('uploaded again during a collection');
    const { sha256 } = await quick.put(bytes);
    // A collector has written its hold and found the blob old; the upload touches it meanwhile...
    await writeRaw(objectKey('holds', sha256), new Uint8Array(0));
    const upload = quick.put(bytes);
    // ...and the collector's deletes land after the upload's touch.
    await new Promise((r) => setTimeout(r, 150));
    await raw.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: objectKey('blobs', sha256) }));
    await raw.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: objectKey('stamps', sha256) }));
    await raw.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: objectKey('holds', sha256) }));
    await upload;
    expect(Buffer.from((await quick.get(sha256))!).equals(bytes)).toBe(true);
    // A blob stored after the cut-off is kept; a collection that outlives its deadline keeps it too.
    expect(await quick.removeIfStoredBefore(sha256, new Date(0))).toBe(false);
    expect(await quick.has(sha256)).toBe(true);
  });

  it('lists, rotates and collects across listing pages', async () => {
    const paged = new S3BlobStore(raw, s3.bucket, 'paged/', parseKeyring(k1), { listPageSize: 2 });
    const stored = [];
    for (let i = 0; i < 5; i++) stored.push((await paged.put(Buffer.from(`paged blob ${i}`))).sha256);
    // A blob without its stamp (a collection interrupted between its deletes) is listed too.
    await raw.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `paged/stamps/${stored[4]}` }));
    const listed = [];
    for await (const blob of paged.list()) listed.push(blob.sha256);
    expect(listed).toEqual([...stored].sort());
    const rotated = await new S3BlobStore(raw, s3.bucket, 'paged/', parseKeyring(`${k2},${k1}`), { listPageSize: 2 }).rotate();
    expect(rotated).toEqual({ total: 5, reencrypted: 5, failed: [] });
    for (const sha256 of stored) expect(await paged.removeIfStoredBefore(sha256, new Date(Date.now() + 60_000))).toBe(true);
    expect((await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'paged/' }))).Contents ?? []).toEqual([]);
  });

  it('sweeps uploads interrupted before they reached their address', async () => {
    await writeRaw(objectKey('incoming', '00000000-0000-4000-8000-000000000000'), Buffer.from('half'));
    expect(await store.sweepLeftovers(new Date(0))).toBe(0);
    expect(await store.sweepLeftovers(new Date(Date.now() + 60_000))).toBe(1);
    expect(await keysUnder('incoming')).toEqual([]);
  });

  it('fails when the store refuses the credentials, naming no secret', async () => {
    const wrong = blobStoreFor({ ...t.config, S3_ACCESS_KEY_ID: 'UNKNOWNKEY', S3_SECRET_ACCESS_KEY: 'not-the-right-secret-value' });
    const err = await wrong.put(Buffer.from('x')).catch((e: Error) => e);
    expect(err).toMatchObject({ $metadata: { httpStatusCode: 403 } });
    expect(String((err as Error).message)).not.toContain('not-the-right-secret-value');
    expect(JSON.stringify(err)).not.toContain('not-the-right-secret-value');
  });
});
