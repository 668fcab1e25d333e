import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Keyring } from '../connections/token-vault.ts';

/**
 * The at-rest format of document bytes: chunked AES-256-GCM (the "STREAM" construction of Hoang,
 * Reyhanitabar, Rogaway and Vizár), so a document of any size is encrypted and decrypted with one
 * chunk in memory, and no byte reaches a reader before the chunk holding it has authenticated.
 *
 * ```
 * header   MAGIC (8 bytes: 89 43 42 42 0d 0a 1a 0a) | version 0x01
 *          | key id length (1 byte) | key id (UTF-8) | salt (32 random bytes) | chunk size (uint32 BE)
 * chunks   AES-256-GCM(plaintext chunk) || tag (16)   — every chunk but the last data chunk is full
 * trailer  AES-256-GCM(SHA-256 of the whole plaintext) || tag (16), flagged final
 * ```
 * - Key: HKDF-SHA256(the keyring key named in the header, salt, "casebridge blob v1"): a fresh key
 *   per blob, so nonces never repeat under a key however many blobs exist.
 * - Nonce of chunk i: 11-byte big-endian i, then 0x01 for the trailer and 0x00 for every other
 *   chunk. Reordering, dropping or duplicating chunks fails authentication; so does cutting the
 *   file anywhere, because only the trailer carries the final flag.
 * - AAD of every chunk: the whole header, so the key id, salt and chunk size cannot be altered.
 * - The trailer binds the file to its address: a blob copied under another document's address is
 *   refused, and the reader checks the plaintext it released hashes to the same value.
 *
 * What a reader can observe of a damaged file: the chunks before the damage (each authentic) and
 * then an error — it must treat the read as failed, as with any I/O error.
 */

export const BLOB_MAGIC = Buffer.from([0x89, 0x43, 0x42, 0x42, 0x0d, 0x0a, 0x1a, 0x0a]);
const VERSION = 1;
const SALT_BYTES = 32;
const TAG_BYTES = 16;
const HASH_BYTES = 32;
const TRAILER_BYTES = HASH_BYTES + TAG_BYTES;
/** Plaintext bytes per chunk. */
export const CHUNK_BYTES = 64 * 1024;
const HKDF_INFO = Buffer.from('casebridge blob v1');

/** A blob that cannot be opened: unknown key, not this format, or altered. Never carries content. */
export class BlobCipherError extends Error {
  constructor(
    readonly code: 'unknown_key' | 'blob_malformed' | 'blob_tampered',
    message: string,
  ) {
    super(message);
    this.name = 'BlobCipherError';
  }
}

function chunkKey(key: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, HKDF_INFO, 32));
}

function nonce(index: number, final: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(index), 3);
  n[11] = final ? 1 : 0;
  return n;
}

function seal(key: Buffer, header: Buffer, index: number, final: boolean, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce(index, final));
  cipher.setAAD(header);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function open(key: Buffer, header: Buffer, index: number, final: boolean, sealed: Buffer): Buffer {
  if (sealed.length < TAG_BYTES) throw new BlobCipherError('blob_malformed', 'the stored blob is cut short');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce(index, final));
    decipher.setAAD(header);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new BlobCipherError('blob_tampered', 'the stored blob does not authenticate (altered, cut short, or moved)');
  }
}

/** The key id a stored blob was sealed with; null for a blob stored before encryption (plaintext). */
export function sealedKeyId(head: Buffer): string | null {
  if (head.length < BLOB_MAGIC.length + 2 || !head.subarray(0, BLOB_MAGIC.length).equals(BLOB_MAGIC)) return null;
  const length = head[BLOB_MAGIC.length + 1]!;
  return head.subarray(BLOB_MAGIC.length + 2, BLOB_MAGIC.length + 2 + length).toString('utf8');
}

/** Whether the first bytes of a stored blob are this format (else: a plaintext blob of before). */
export function isSealed(head: Buffer): boolean {
  return head.length >= BLOB_MAGIC.length && head.subarray(0, BLOB_MAGIC.length).equals(BLOB_MAGIC);
}

/**
 * Encrypts `source` under the keyring's current key, yielding the stored form piece by piece.
 * `done` resolves, once the output is consumed, to the plaintext's SHA-256 (hex) and size.
 */
export function sealStream(
  keyring: Keyring,
  source: AsyncIterable<Uint8Array>,
): { output: AsyncIterable<Buffer>; done: Promise<{ sha256: string; size: number }> } {
  let settle!: (v: { sha256: string; size: number }) => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<{ sha256: string; size: number }>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // The caller awaits `done` only after consuming the output; an error is reported through both.
  done.catch(() => undefined);
  async function* output(): AsyncIterable<Buffer> {
    try {
      const keyId = Buffer.from(keyring.current.id, 'utf8');
      if (keyId.length > 255) throw new BlobCipherError('unknown_key', 'key id longer than 255 bytes');
      const salt = randomBytes(SALT_BYTES);
      const size = Buffer.alloc(4);
      size.writeUInt32BE(CHUNK_BYTES);
      const header = Buffer.concat([BLOB_MAGIC, Buffer.from([VERSION, keyId.length]), keyId, salt, size]);
      const key = chunkKey(keyring.current.key, salt);
      const hash = createHash('sha256');
      yield header;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let index = 0;
      let total = 0;
      for await (const piece of source) {
        let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        hash.update(buf);
        total += buf.length;
        while (pendingBytes + buf.length >= CHUNK_BYTES) {
          const take = CHUNK_BYTES - pendingBytes;
          pending.push(buf.subarray(0, take));
          buf = buf.subarray(take);
          yield seal(key, header, index++, false, Buffer.concat(pending));
          pending = [];
          pendingBytes = 0;
        }
        if (buf.length) {
          // Copied: the source may reuse its buffer once we ask for the next piece.
          pending.push(Buffer.from(buf));
          pendingBytes += buf.length;
        }
      }
      if (pendingBytes) yield seal(key, header, index++, false, Buffer.concat(pending));
      const digest = hash.digest();
      yield seal(key, header, index, true, digest);
      settle({ sha256: digest.toString('hex'), size: total });
    } catch (err) {
      fail(err);
      throw err;
    }
  }
  return { output: output(), done };
}

/**
 * Decrypts a stored blob read as `source`, yielding plaintext one authenticated chunk at a time,
 * and fails unless the trailer authenticates and names `expectedSha256` and the released bytes hash
 * to it. Plaintext blobs of before encryption are passed through and checked against the address.
 */
export async function* openStream(keyring: Keyring, source: AsyncIterable<Uint8Array>, expectedSha256: string): AsyncIterable<Buffer> {
  let buffer: Buffer = Buffer.alloc(0);
  const iterator = source[Symbol.asyncIterator]();
  let ended = false;
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      return false;
    }
    buffer = Buffer.concat([buffer, Buffer.from(next.value)]);
    return true;
  };
  const hash = createHash('sha256');
  try {
    while (buffer.length < BLOB_MAGIC.length && (await more()));
    if (!isSealed(buffer)) {
      // Stored before encryption: the address is the only check there is.
      for (;;) {
        if (buffer.length) {
          hash.update(buffer);
          yield buffer;
          buffer = Buffer.alloc(0);
        }
        if (!(await more())) break;
      }
      if (hash.digest('hex') !== expectedSha256) throw new BlobCipherError('blob_tampered', 'the stored (unencrypted) blob does not match its address');
      return;
    }
    const fixed = BLOB_MAGIC.length + 2;
    while (buffer.length < fixed && (await more()));
    if (buffer.length < fixed || buffer[BLOB_MAGIC.length] !== VERSION) throw new BlobCipherError('blob_malformed', 'unknown blob format version');
    const headerBytes = fixed + buffer[BLOB_MAGIC.length + 1]! + SALT_BYTES + 4;
    while (buffer.length < headerBytes && (await more()));
    if (buffer.length < headerBytes) throw new BlobCipherError('blob_malformed', 'the stored blob is cut short');
    const header = Buffer.from(buffer.subarray(0, headerBytes));
    buffer = buffer.subarray(headerBytes);
    const keyId = sealedKeyId(header)!;
    const master = keyring.keys.get(keyId);
    if (!master) throw new BlobCipherError('unknown_key', `blob sealed with key "${keyId}", which TOKEN_ENCRYPTION_KEYS no longer lists`);
    const salt = header.subarray(headerBytes - 4 - SALT_BYTES, headerBytes - 4);
    const chunkBytes = header.readUInt32BE(headerBytes - 4);
    if (chunkBytes < 1 || chunkBytes > 16 * 1024 * 1024) throw new BlobCipherError('blob_malformed', 'implausible chunk size');
    const key = chunkKey(master, salt);
    const sealedChunk = chunkBytes + TAG_BYTES;
    let index = 0;
    for (;;) {
      // A full chunk is a data chunk only when a trailer's worth of bytes follows it.
      while (buffer.length < sealedChunk + TRAILER_BYTES && (await more()));
      if (buffer.length < sealedChunk + TRAILER_BYTES) break;
      const plain = open(key, header, index++, false, buffer.subarray(0, sealedChunk));
      buffer = buffer.subarray(sealedChunk);
      hash.update(plain);
      yield plain;
    }
    if (buffer.length < TRAILER_BYTES) throw new BlobCipherError('blob_tampered', 'the stored blob is cut short');
    const last = buffer.subarray(0, buffer.length - TRAILER_BYTES);
    if (last.length) {
      const plain = open(key, header, index++, false, last);
      hash.update(plain);
      yield plain;
    }
    const trailer = open(key, header, index, true, buffer.subarray(buffer.length - TRAILER_BYTES));
    if (trailer.toString('hex') !== expectedSha256 || hash.digest('hex') !== expectedSha256) {
      throw new BlobCipherError('blob_tampered', 'the stored blob belongs to another address');
    }
  } finally {
    await iterator.return?.();
  }
}
