import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Keyring } from '../connections/token-vault.ts';
import { BlobCipherError, isSealed, openStream, sealedKeyId, sealStream } from './blob-cipher.ts';
import type { BlobRotation, BlobStore } from './types.ts';

/** The configuration variables of an S3-compatible store (src/config/schema.ts). */
export interface S3BlobStoreConfig {
  S3_ENDPOINT?: string | undefined;
  S3_REGION?: string | undefined;
  S3_FORCE_PATH_STYLE?: boolean | undefined;
  S3_ACCESS_KEY_ID?: string | undefined;
  S3_SECRET_ACCESS_KEY?: string | undefined;
}

/** Tuning of the store; the defaults suit production, tests shorten the waits. */
export interface S3BlobStoreOptions {
  /** Bytes per multipart part (at least 5 MiB, S3's minimum). */
  partSize?: number;
  /** Parts uploaded at once; memory held by one upload is about partSize × (queueSize + 1). */
  queueSize?: number;
  /** A collection deletes only within this long after writing its hold (see removeIfStoredBefore). */
  holdDeadlineMs?: number;
  /** How long a `put` waits at most for a collection's hold to go away. */
  holdWaitMs?: number;
  /** Keys per listing page (S3's default and maximum is 1,000). */
  listPageSize?: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** A hold older than this (by its own timestamp) was left by a dead collector. SigV4 refuses clocks more than 15 minutes apart, so 20 is safe. */
const HOLD_ABANDONED_MS = 20 * 60_000;
/** Enough of a blob's beginning for its header's key id (blob-cipher.ts). */
const HEAD_BYTES = 266;

/**
 * Blob store in an S3-compatible bucket under a key prefix. Same format (blob-cipher.ts) and
 * addresses as the directory store; objects:
 * ```
 * <prefix>blobs/<sha256>      the sealed blob, at its content address
 * <prefix>stamps/<sha256>     empty; its LastModified is when the blob was last stored (the file
 *                             store's mtime), since S3 cannot set an object's time: `put` of bytes
 *                             already there rewrites the stamp, never the blob
 * <prefix>incoming/<uuid>     a streamed upload whose address is not known yet (as the Docker
 *                             registry does: upload, then copy to the digest's key server-side)
 * <prefix>holds/<sha256>      a collection of that blob in progress
 * ```
 * Every write is an atomic replacement (an object appears when its upload completes), so a reader
 * never sees half a blob; uploads stream through multipart parts, downloads through the response
 * body, one part or chunk in memory at a time.
 *
 * S3 has no rename, so the collector cannot take a blob out of reach first as the file store does.
 * Instead it writes a hold, checks the stamp, and deletes only within `holdDeadlineMs` of writing
 * the hold; a `put` rewrites the stamp, then waits while a hold exists (up to `holdWaitMs`, longer
 * than the deadline), then checks the blob is there and writes it again if a collection took it.
 * With S3's read-after-write consistency either the collector sees the new stamp and keeps the
 * blob, or the `put` sees the hold (or the blob gone) and stores the bytes again.
 */
export class S3BlobStore implements BlobStore {
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly holdDeadlineMs: number;
  private readonly holdWaitMs: number;
  private readonly listPageSize: number | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    /** Empty, or ending in `/`. */
    private readonly prefix: string,
    readonly keyring: Keyring,
    options: S3BlobStoreOptions = {},
  ) {
    this.partSize = Math.max(options.partSize ?? 5 * 1024 * 1024, 5 * 1024 * 1024);
    this.queueSize = options.queueSize ?? 2;
    this.holdDeadlineMs = options.holdDeadlineMs ?? 10_000;
    this.holdWaitMs = Math.max(options.holdWaitMs ?? 30_000, this.holdDeadlineMs * 2);
    this.listPageSize = options.listPageSize;
  }

  /** The store of `s3://bucket/prefix` with the S3_* configuration. */
  static fromConfig(url: string, config: S3BlobStoreConfig, keyring: Keyring, options?: S3BlobStoreOptions): S3BlobStore {
    const { bucket, prefix } = parseS3Url(url);
    return new S3BlobStore(s3ClientFor(config), bucket, prefix, keyring, options);
  }

  private key(kind: 'blobs' | 'stamps' | 'holds', sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error('invalid blob id');
    return `${this.prefix}${kind}/${sha256}`;
  }

  async put(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const write = async () => {
      await this.writeSealed(this.key('blobs', sha256), [bytes]);
    };
    if (!(await this.exists(this.key('blobs', sha256)))) await write();
    await this.markStored(sha256, write);
    return { sha256, size: bytes.byteLength };
  }

  async putStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
    // The address is known only at the end: upload under a temporary key, then copy server-side.
    const incoming = `${this.prefix}incoming/${randomUUID()}`;
    try {
      const { sha256, size } = await this.writeSealed(incoming, source);
      const target = this.key('blobs', sha256);
      const copy = async () => {
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: copySource(this.bucket, incoming) }));
      };
      if (!(await this.exists(target))) await copy();
      await this.markStored(sha256, copy);
      return { sha256, size };
    } finally {
      await this.delete(incoming).catch(() => undefined); // else swept by sweepLeftovers
    }
  }

  /** Encrypts `source` into the object `key` as a streamed (multipart when large) upload. */
  private async writeSealed(key: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
    const { output, done } = sealStream(this.keyring, toAsync(source));
    // An error of the source (a client that went away, a blob that failed to open) fails the
    // upload before it completes: lib-storage aborts the multipart upload, nothing is replaced.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: Readable.from(output), ContentType: 'application/octet-stream' },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    await upload.done();
    return done;
  }

  /**
   * Rewrites the blob's stamp (its stored-at time), then makes sure no collection removed the blob
   * around that moment: waits out a collection in progress and stores the bytes again with `write`
   * when the blob is gone. See the class comment for why this suffices.
   */
  private async markStored(sha256: string, write: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key('stamps', sha256), Body: new Uint8Array(0) }));
      await this.waitForCollection(sha256);
      if (await this.exists(this.key('blobs', sha256))) return;
      if (attempt >= 3) throw new Error('blob store: the blob was collected again each time it was stored');
      await write();
    }
  }

  /** Returns once no collection of the blob is in progress (or the one in progress is past its deadline). */
  private async waitForCollection(sha256: string): Promise<void> {
    const started = performance.now();
    for (;;) {
      const held = await this.lastModified(this.key('holds', sha256));
      if (!held || held.getTime() < Date.now() - HOLD_ABANDONED_MS) return;
      if (performance.now() - started > this.holdWaitMs) return;
      await sleep(Math.min(250, this.holdDeadlineMs / 4));
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
    const body = await this.body(this.key('blobs', sha256));
    // Breaking out of the loop returns the body's iterator, which destroys the response.
    return body && openStream(this.keyring, body, sha256);
  }

  async has(sha256: string): Promise<boolean> {
    return this.exists(this.key('blobs', sha256));
  }

  async rotate(): Promise<BlobRotation> {
    const result: BlobRotation = { total: 0, reencrypted: 0, failed: [] };
    for await (const { sha256 } of this.list()) {
      const key = this.key('blobs', sha256);
      try {
        const head = await this.body(key, `bytes=0-${HEAD_BYTES - 1}`);
        if (!head) continue; // a stamp whose blob was collected
        result.total++;
        const pieces: Buffer[] = [];
        for await (const piece of head) pieces.push(Buffer.from(piece as Uint8Array));
        const first = Buffer.concat(pieces);
        if (isSealed(first) && sealedKeyId(first) === this.keyring.current.id) continue;
        const body = await this.body(key);
        if (!body) continue; // collected meanwhile
        // Written over the blob itself: the object is replaced only when the upload completes, and
        // openStream fails before the end (so the upload aborts) unless the old blob authenticates
        // and matches its address. The stamp is untouched, so the stored-at time is kept.
        const sealed = await this.writeSealed(key, openStream(this.keyring, body, sha256));
        if (sealed.sha256 !== sha256) throw new BlobCipherError('blob_tampered', 'content does not match its address');
        result.reencrypted++;
      } catch (err) {
        result.failed.push({ sha256, code: err instanceof BlobCipherError ? err.code : 'error' });
      }
    }
    return result;
  }

  /** Blobs and stamps listed side by side (both in key order); a blob without a stamp counts from its own time. */
  async *list(): AsyncIterable<{ sha256: string; storedAt: Date }> {
    const blobs = this.listObjects(`${this.prefix}blobs/`)[Symbol.asyncIterator]();
    const stamps = this.listObjects(`${this.prefix}stamps/`)[Symbol.asyncIterator]();
    let blob = await blobs.next();
    let stamp = await stamps.next();
    while (!blob.done || !stamp.done) {
      if (!blob.done && (stamp.done || blob.value.name < stamp.value.name)) {
        if (SHA256_HEX.test(blob.value.name)) yield { sha256: blob.value.name, storedAt: blob.value.lastModified };
        blob = await blobs.next();
      } else if (!stamp.done && (blob.done || stamp.value.name < blob.value.name)) {
        // A stamp left by an interrupted collection: listed so the collector removes it too.
        if (SHA256_HEX.test(stamp.value.name)) yield { sha256: stamp.value.name, storedAt: stamp.value.lastModified };
        stamp = await stamps.next();
      } else if (!blob.done && !stamp.done) {
        if (SHA256_HEX.test(blob.value.name)) yield { sha256: blob.value.name, storedAt: stamp.value.lastModified };
        blob = await blobs.next();
        stamp = await stamps.next();
      }
    }
  }

  async removeIfStoredBefore(sha256: string, storedBefore: Date): Promise<boolean> {
    const started = performance.now();
    const hold = this.key('holds', sha256);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: hold, Body: new Uint8Array(0) }));
    try {
      const storedAt = (await this.lastModified(this.key('stamps', sha256))) ?? (await this.lastModified(this.key('blobs', sha256)));
      if (!storedAt || storedAt >= storedBefore) return false;
      // Past the deadline a `put` may have stopped waiting for this hold: leave the blob.
      if (performance.now() - started > this.holdDeadlineMs) return false;
      await this.delete(this.key('blobs', sha256));
      await this.delete(this.key('stamps', sha256));
      return true;
    } finally {
      await this.delete(hold);
    }
  }

  async sweepLeftovers(olderThan: Date): Promise<number> {
    let removed = 0;
    for (const kind of ['incoming', 'holds'] as const) {
      for await (const { name, lastModified } of this.listObjects(`${this.prefix}${kind}/`)) {
        if (lastModified >= olderThan) continue;
        await this.delete(`${this.prefix}${kind}/${name}`);
        removed++;
      }
    }
    // Multipart uploads of a process that died mid-upload hold their parts until aborted. A store
    // without this call (NotImplemented) needs a lifecycle rule (AbortIncompleteMultipartUpload).
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client
        .send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }))
        .catch((err: unknown) => {
          if ((err as { name?: string }).name === 'NotImplemented') return null;
          throw err;
        });
      if (!page) break;
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId || !upload.Initiated || upload.Initiated >= olderThan) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
        removed++;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return removed;
  }

  /** Names (the part after `prefix`) and times of the objects under a prefix, in key order, page by page. */
  private async *listObjects(prefix: string): AsyncIterable<{ name: string; lastModified: Date }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.listPageSize }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key && object.LastModified) yield { name: object.Key.slice(prefix.length), lastModified: object.LastModified };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The object's content as a stream (optionally a byte range); null when there is no such object. */
  private async body(key: string, range?: string): Promise<Readable | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
      if (!(res.Body instanceof Readable)) throw new Error('blob store: the S3 client returned no readable body');
      return res.Body;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  private async lastModified(key: string): Promise<Date | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return res.LastModified ?? new Date(0);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  private async exists(key: string): Promise<boolean> {
    return (await this.lastModified(key)) !== null;
  }

  private async delete(key: string): Promise<void> {
    // S3 answers 204 for a key that does not exist, so deleting twice is harmless.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

/** `s3://bucket/some/prefix` → bucket and a prefix ending in `/` (or empty). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!match) throw new Error('expected s3://bucket[/prefix]');
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: match[1]!, prefix: prefix ? `${prefix}/` : '' };
}

/**
 * The S3 client of the configuration. Without S3_ACCESS_KEY_ID the SDK's default chain finds
 * credentials (AWS_* variables, profiles, web identity, container and instance roles). Checksums
 * only where the API requires them: many S3-compatible stores reject the SDK's newer default
 * trailing checksums, and every blob carries its own authentication (blob-cipher.ts).
 */
export function s3ClientFor(config: S3BlobStoreConfig): S3Client {
  return new S3Client({
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION ?? (config.S3_ENDPOINT ? 'us-east-1' : undefined),
    forcePathStyle: config.S3_FORCE_PATH_STYLE ?? false,
    credentials:
      config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
        ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY }
        : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

async function* toAsync(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* source;
}
