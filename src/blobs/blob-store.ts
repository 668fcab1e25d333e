import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/load.ts';
import { type Keyring, parseKeyring } from '../connections/token-vault.ts';
import { BlobCipherError, isSealed, openStream, sealedKeyId, sealStream } from './blob-cipher.ts';
import type { S3BlobStoreConfig } from './s3-blob-store.ts';
import type { BlobRotation, BlobStore } from './types.ts';

export type { BlobRotation, BlobStore } from './types.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The deployment's blob store, sealed with the `TOKEN_ENCRYPTION_KEYS` keyring: the S3-compatible
 * bucket of `BLOB_STORE_URL=s3://bucket/prefix`, the directory of `BLOB_STORE_URL=file:///dir`, or
 * by default `$DATA_DIR/blobs`. The API, the workers and the command line all build it here.
 */
export function blobStoreFor(config: Pick<Config, 'DATA_DIR' | 'TOKEN_ENCRYPTION_KEYS' | 'BLOB_STORE_URL'> & S3BlobStoreConfig): BlobStore {
  const keyring = parseKeyring(config.TOKEN_ENCRYPTION_KEYS);
  const url = config.BLOB_STORE_URL;
  if (url?.startsWith('s3://')) return new LazyBlobStore(async () => (await import('./s3-blob-store.ts')).S3BlobStore.fromConfig(url, config, keyring));
  if (url?.startsWith('file://')) return new FileBlobStore(fileURLToPath(url), keyring);
  return new FileBlobStore(path.resolve(config.DATA_DIR, 'blobs'), keyring);
}

/**
 * A store built on first use: the S3 SDK (large) loads only in processes that touch blobs, not in
 * every CLI command or API process that merely could.
 */
export class LazyBlobStore implements BlobStore {
  private store: Promise<BlobStore> | null = null;
  constructor(private readonly load: () => Promise<BlobStore>) {}

  /** The store itself, built on the first call. */
  loaded(): Promise<BlobStore> {
    this.store ??= this.load();
    return this.store;
  }
  async put(bytes: Uint8Array) {
    return (await this.loaded()).put(bytes);
  }
  async putStream(source: AsyncIterable<Uint8Array>) {
    return (await this.loaded()).putStream(source);
  }
  async get(sha256: string) {
    return (await this.loaded()).get(sha256);
  }
  async open(sha256: string) {
    return (await this.loaded()).open(sha256);
  }
  async has(sha256: string) {
    return (await this.loaded()).has(sha256);
  }
  async rotate() {
    return (await this.loaded()).rotate();
  }
  async *list() {
    yield* (await this.loaded()).list();
  }
  async removeIfStoredBefore(sha256: string, storedBefore: Date) {
    return (await this.loaded()).removeIfStoredBefore(sha256, storedBefore);
  }
  async sweepLeftovers(olderThan: Date) {
    return (await this.loaded()).sweepLeftovers(olderThan);
  }
}

/**
 * Blob store under a directory: `<dir>/ab/cd/abcd…`, encrypted (blob-cipher.ts), written to a
 * temporary file and renamed into place so a reader never sees half a blob.
 */
export class FileBlobStore implements BlobStore {
  constructor(
    private readonly dir: string,
    readonly keyring: Keyring,
  ) {}

  private pathFor(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error('invalid blob id');
    return path.join(this.dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async put(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    // The bytes are at hand: a blob already stored is only touched, not encrypted again.
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (await touch(this.pathFor(sha256))) return { sha256, size: bytes.byteLength };
    return this.putStream([bytes]);
  }

  async putStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
    await fs.mkdir(this.dir, { recursive: true });
    // The address is known only at the end: encrypt into a temporary file beside the store first.
    const tmp = path.join(this.dir, `incoming.${randomUUID()}.tmp`);
    const { sha256, size } = await this.sealInto(tmp, toAsync(source));
    const target = this.pathFor(sha256);
    // Already there: mark it as stored now (the collector's grace period starts again) and drop the
    // copy. If the collector took it away in the meantime, the touch fails and the copy goes in.
    if (await touch(target)) {
      await fs.unlink(tmp);
    } else {
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.rename(tmp, target);
    }
    return { sha256, size };
  }

  /** Encrypts `source` into `file`; removes the file when anything fails. */
  private async sealInto(file: string, source: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      const { output, done } = sealStream(this.keyring, source);
      for await (const piece of output) await handle.write(piece);
      await handle.sync();
      await handle.close();
      return await done;
    } catch (err) {
      await handle.close().catch(() => undefined);
      await fs.unlink(file).catch(() => undefined);
      throw err;
    }
  }

  async get(sha256: string): Promise<Uint8Array | null> {
    const stream = await this.open(sha256);
    if (!stream) return null;
    const parts: Uint8Array[] = [];
    for await (const part of stream) parts.push(part);
    return new Uint8Array(Buffer.concat(parts));
  }

  async open(sha256: string): Promise<AsyncIterable<Uint8Array> | null> {
    const file = this.pathFor(sha256);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // The descriptor stays valid if the file is replaced (rotation) or collected while being read.
    const raw = handle.createReadStream({ highWaterMark: 64 * 1024 });
    return openStream(this.keyring, raw, sha256);
  }

  async rotate(): Promise<BlobRotation> {
    const result: BlobRotation = { total: 0, reencrypted: 0, failed: [] };
    for await (const { sha256 } of this.list()) {
      result.total++;
      const file = this.pathFor(sha256);
      try {
        const head = await readHead(file);
        if (head === null) continue;
        if (isSealed(head) && sealedKeyId(head) === this.keyring.current.id) continue;
        const stat = await fs.stat(file);
        const tmp = `${file}.${randomUUID()}.tmp`;
        const plain = openStream(this.keyring, createReadStream(file), sha256);
        const sealed = await this.sealInto(tmp, plain);
        if (sealed.sha256 !== sha256) throw new BlobCipherError('blob_tampered', 'content does not match its address');
        // Keep its stored-at time: rotation must not restart the collector's grace period.
        await fs.utimes(tmp, stat.atime, stat.mtime);
        await fs.rename(tmp, file);
        result.reencrypted++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // collected meanwhile
        result.failed.push({ sha256, code: err instanceof BlobCipherError ? err.code : 'error' });
      }
    }
    return result;
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await fs.access(this.pathFor(sha256));
      return true;
    } catch {
      return false;
    }
  }

  async *list(): AsyncIterable<{ sha256: string; storedAt: Date }> {
    for (const a of await subdirectories(this.dir)) {
      for (const b of await subdirectories(path.join(this.dir, a))) {
        const dir = path.join(this.dir, a, b);
        for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
          if (!SHA256_HEX.test(name)) continue;
          const stat = await fs.stat(path.join(dir, name)).catch(() => null);
          if (stat?.isFile()) yield { sha256: name, storedAt: stat.mtime };
        }
      }
    }
  }

  async removeIfStoredBefore(sha256: string, storedBefore: Date): Promise<boolean> {
    const target = this.pathFor(sha256);
    // Take the blob out of reach first (an atomic rename), then look at its time: a `put` that
    // touched it before the rename shows here and the blob goes back; one after it finds no file and
    // writes the bytes again.
    const held = `${target}.${randomUUID()}.gc`;
    try {
      await fs.rename(target, held);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const stat = await fs.stat(held);
    if (stat.mtime >= storedBefore) {
      // Stored again meanwhile: put it back, unless a `put` has already written it afresh.
      if (await this.has(sha256)) await fs.unlink(held);
      else await fs.rename(held, target);
      return false;
    }
    await fs.unlink(held);
    return true;
  }

  async sweepLeftovers(olderThan: Date): Promise<number> {
    let removed = 0;
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      if (!INCOMING.test(name)) continue;
      const file = path.join(this.dir, name);
      const stat = await fs.stat(file).catch(() => null);
      if (
        stat &&
        stat.mtime < olderThan &&
        (await fs.unlink(file).then(
          () => true,
          () => false,
        ))
      )
        removed++;
    }
    for (const a of await subdirectories(this.dir)) {
      for (const b of await subdirectories(path.join(this.dir, a))) {
        const dir = path.join(this.dir, a, b);
        for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
          if (!LEFTOVER.test(name)) continue;
          const file = path.join(dir, name);
          const stat = await fs.stat(file).catch(() => null);
          if (
            stat &&
            stat.mtime < olderThan &&
            (await fs.unlink(file).then(
              () => true,
              () => false,
            ))
          )
            removed++;
        }
      }
    }
    return removed;
  }
}

/**
 * `<sha256>.<uuid>.tmp` (a rotation in progress), `.gc` (a collection in progress), or
 * `incoming.<uuid>.tmp` at the top (an upload in progress).
 */
const LEFTOVER = /^[0-9a-f]{64}\.[0-9a-f-]{36}\.(tmp|gc)$/;
const INCOMING = /^incoming\.[0-9a-f-]{36}\.tmp$/;

/** Sets a file's times to now; false when there is no such file. */
async function touch(file: string): Promise<boolean> {
  const now = new Date();
  try {
    await fs.utimes(file, now, now);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function subdirectories(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name)).map((e) => e.name);
}

/** The first bytes of a file (enough for the header's key id); null when it is gone. */
async function readHead(file: string): Promise<Buffer | null> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const buf = Buffer.alloc(266);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function* toAsync(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* source;
}
