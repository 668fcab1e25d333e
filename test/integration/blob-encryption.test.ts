import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOB_MAGIC, BlobCipherError, CHUNK_BYTES, sealedKeyId } from '../../src/blobs/blob-cipher.ts';
import { FileBlobStore } from '../../src/blobs/blob-store.ts';
import { keyCommands } from '../../src/cli/key-commands.ts';
import { parseKeyring } from '../../src/connections/token-vault.ts';
import { bearer, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * Document bytes at rest: a copied data directory discloses none of them, every key of the keyring
 * opens them, `keys rotate` moves them to the newest key (unencrypted blobs of before included), and
 * an altered, cut or moved blob is refused without releasing the altered bytes.
 */

const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file under a directory, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function collect(stream: AsyncIterable<Uint8Array>, into: Buffer[] = []): Promise<Buffer> {
  for await (const part of stream) into.push(Buffer.from(part));
  return Buffer.concat(into);
}

describe('document blobs at rest', () => {
  let t: TestServices;
  let blobsDir: string;
  let store: FileBlobStore;
  const fileOf = (sha256: string) => path.join(blobsDir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);

  beforeAll(async () => {
    t = await createTestServices({ TOKEN_ENCRYPTION_KEYS: k1 });
    blobsDir = path.join(t.config.DATA_DIR, 'blobs');
    store = t.services.blobs as FileBlobStore;
  });
  afterAll(async () => t.cleanup());

  it('leaves no document bytes in a copy of the data directory', async () => {
    const org = await seedOrg(t.services, 'Blob Firm');
    const headers = { ...bearer(org.apiKey), 'content-type': 'application/json' };
    await t.app.request('/v1/ingest/cases/c-1', { method: 'PUT', headers, body: JSON.stringify({ number: 'B-1', title: 'Case' }) });
    // Several chunks, with a phrase that would be found in any plaintext copy.
    const secret = 'Settlement offer: EUR 1,250,000 — privileged and confidential. ';
    const content = Buffer.from(secret.repeat(Math.ceil((2.5 * CHUNK_BYTES) / secret.length)));
    const res = await t.app.request('/v1/ingest/documents/d-1', {
      method: 'PUT',
      headers,
      body: JSON.stringify({ caseExternalId: 'c-1', title: 'Offer', fileName: 'offer.txt', content: content.toString('base64') }),
    });
    expect(res.status).toBe(201);

    const copy = await fs.mkdtemp(path.join(t.config.DATA_DIR, '..', 'copy-'));
    await fs.cp(t.config.DATA_DIR, copy, { recursive: true });
    const files = await filesUnder(copy);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = await fs.readFile(file);
      expect(bytes.includes('Settlement offer')).toBe(false);
      expect(bytes.includes('privileged and confidential')).toBe(false);
      expect(bytes.includes(content.subarray(1000, 1032))).toBe(false);
    }
    await fs.rm(copy, { recursive: true, force: true });

    const stored = await fs.readFile(fileOf(sha(content)));
    expect(stored.subarray(0, BLOB_MAGIC.length).equals(BLOB_MAGIC)).toBe(true);
    expect(sealedKeyId(stored)).toBe('k1');
    expect(Buffer.from((await store.get(sha(content)))!).equals(content)).toBe(true);
  });

  it('streams any size through the chunk boundaries and back', async () => {
    for (const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES]) {
      const content = randomBytes(size);
      // Fed in odd pieces, so chunking does not follow the writer's pieces.
      async function* pieces() {
        for (let i = 0; i < size; i += 7777) yield content.subarray(i, i + 7777);
      }
      const { sha256, size: stored } = await store.putStream(pieces());
      expect([sha256, stored]).toEqual([sha(content), size]);
      expect((await collect((await store.open(sha256))!)).equals(content)).toBe(true);
    }
    expect(await store.open('0'.repeat(64))).toBeNull();
  });

  it('refuses an altered blob and releases nothing from the altered chunk on', async () => {
    const content = randomBytes(3 * CHUNK_BYTES);
    const { sha256 } = await store.put(content);
    const file = fileOf(sha256);
    const original = await fs.readFile(file);
    const headerBytes = original.length - (3 * (CHUNK_BYTES + 16) + 48);

    // One bit flipped in the second chunk: the first chunk is released, then the read fails.
    const flipped = Buffer.from(original);
    flipped[headerBytes + CHUNK_BYTES + 16 + 100]! ^= 1;
    await fs.writeFile(file, flipped);
    const released: Buffer[] = [];
    await expect(collect((await store.open(sha256))!, released)).rejects.toMatchObject({ code: 'blob_tampered' });
    expect(Buffer.concat(released).equals(content.subarray(0, CHUNK_BYTES))).toBe(true);

    // Cut after a whole chunk (no final trailer), and a header naming another key id.
    await fs.writeFile(file, original.subarray(0, headerBytes + CHUNK_BYTES + 16 + 48));
    await expect(store.get(sha256)).rejects.toBeInstanceOf(BlobCipherError);
    const otherKey = Buffer.from(original);
    otherKey[BLOB_MAGIC.length + 2] = 'x'.charCodeAt(0);
    await fs.writeFile(file, otherKey);
    await expect(store.get(sha256)).rejects.toMatchObject({ code: 'unknown_key' });
    const tamperedSalt = Buffer.from(original);
    tamperedSalt[BLOB_MAGIC.length + 5]! ^= 1;
    await fs.writeFile(file, tamperedSalt);
    await expect(store.get(sha256)).rejects.toMatchObject({ code: 'blob_tampered' });

    // A genuine blob copied under another document's address.
    const other = await store.put(randomBytes(100));
    await fs.writeFile(fileOf(other.sha256), original);
    await expect(store.get(other.sha256)).rejects.toMatchObject({ code: 'blob_tampered' });

    await fs.writeFile(file, original);
    expect(Buffer.from((await store.get(sha256))!).equals(content)).toBe(true);
    // No message carries content.
    const err = await store.get(other.sha256).catch((e: Error) => e);
    expect(String((err as Error).message)).not.toMatch(/[^\x20-\x7e]/);
    await fs.rm(fileOf(other.sha256));
  });

  it('reads blobs stored before encryption, and refuses one that does not match its address', async () => {
    const legacy = Buffer.from('stored in the clear by an earlier version');
    const file = fileOf(sha(legacy));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, legacy);
    expect(Buffer.from((await store.get(sha(legacy)))!).equals(legacy)).toBe(true);
    const wrong = Buffer.from('a different text under that address');
    const mismatch = fileOf(sha(Buffer.from('mismatch')));
    await fs.mkdir(path.dirname(mismatch), { recursive: true });
    await fs.writeFile(mismatch, wrong);
    await expect(store.get(sha(Buffer.from('mismatch')))).rejects.toMatchObject({ code: 'blob_tampered' });
    await fs.rm(mismatch);
  });

  it('keys rotate re-encrypts every blob under the newest key, the clear ones too', async () => {
    const content = randomBytes(CHUNK_BYTES + 5);
    const { sha256 } = await store.put(content);
    const legacy = Buffer.from('another clear blob from before');
    await fs.mkdir(path.dirname(fileOf(sha(legacy))), { recursive: true });
    await fs.writeFile(fileOf(sha(legacy)), legacy);
    const old = new Date(Date.now() - 3 * 3600_000);
    await fs.utimes(fileOf(sha256), old, old);

    const config = { ...t.services.config, TOKEN_ENCRYPTION_KEYS: `${k2},${k1}` };
    const lines: string[] = [];
    const code = await keyCommands[0]!.run({ args: {}, positionals: [], config, services: { ...t.services, config }, print: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(/document blob\(s\) re-encrypted/);
    expect(code).toBe(0);

    for (const file of await filesUnder(blobsDir)) expect(sealedKeyId(await fs.readFile(file))).toBe('k2');
    // The stored-at time is kept, so the collector's grace period does not start again.
    expect((await fs.stat(fileOf(sha256))).mtime.getTime()).toBe(old.getTime());
    const onlyNew = new FileBlobStore(blobsDir, parseKeyring(k2));
    expect(Buffer.from((await onlyNew.get(sha256))!).equals(content)).toBe(true);
    expect(Buffer.from((await onlyNew.get(sha(legacy)))!).equals(legacy)).toBe(true);
    await expect(new FileBlobStore(blobsDir, parseKeyring(k1)).get(sha256)).rejects.toMatchObject({ code: 'unknown_key' });

    const again: string[] = [];
    await keyCommands[0]!.run({ args: {}, positionals: [], config, services: { ...t.services, config }, print: (l) => again.push(l) });
    expect(again.join('\n')).toMatch(/^0 document blob/m);
  });
});
