import type { BlobCipherError } from './blob-cipher.ts';

/**
 * Content-addressed storage for document bytes, keyed by the SHA-256 (hex) of the plaintext. Two
 * implementations behind this one interface, chosen by `blobStoreFor`: a local directory
 * (`FileBlobStore`) and an S3-compatible bucket (`S3BlobStore`). Contents are encrypted at rest
 * (see blob-cipher.ts); the address stays the plain SHA-256 because the documents table and the ingest API already carry it (a keyed address would
 * hide nothing from whoever holds the data directory, which holds the database too; in a bucket it
 * lets whoever can list it test for a document they already hold, see README's security notes).
 */
export interface BlobStore {
  /**
   * Stores the bytes and returns their SHA-256 (hex). Storing bytes that are already there writes
   * nothing but marks the blob as just stored, so the collector leaves it alone for its grace period.
   */
  put(bytes: Uint8Array): Promise<{ sha256: string; size: number }>;
  /** As `put`, reading the bytes from a stream (one chunk in memory at a time). */
  putStream(source: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }>;
  /** The whole content (small blobs; prefer `open` for documents). Null when absent. */
  get(sha256: string): Promise<Uint8Array | null>;
  /**
   * The content as a stream of authenticated chunks, or null when absent. The stream throws
   * {@link BlobCipherError} when the stored blob was altered, cut short or moved: a consumer must
   * then discard what it read. Read it to the end or break out of the loop: either closes the file.
   */
  open(sha256: string): Promise<AsyncIterable<Uint8Array> | null>;
  has(sha256: string): Promise<boolean>;
  /**
   * Re-encrypts every blob not sealed with the newest key (unencrypted blobs of before included),
   * keeping each blob's stored-at time. Returns counts and the blobs that could not be opened.
   */
  rotate(): Promise<BlobRotation>;
  /** Every blob with the time it was last stored. */
  list(): AsyncIterable<{ sha256: string; storedAt: Date }>;
  /**
   * Removes a blob unless it was stored at or after `storedBefore` — checked atomically against a
   * concurrent `put` of the same bytes, which then either keeps the blob or writes it again. True
   * when removed.
   */
  removeIfStoredBefore(sha256: string, storedBefore: Date): Promise<boolean>;
  /** Removes leftovers of interrupted writes (and collections) older than `olderThan`; returns how many. */
  sweepLeftovers(olderThan: Date): Promise<number>;
}

/** What `rotate` did. */
export interface BlobRotation {
  total: number;
  reencrypted: number;
  failed: Array<{ sha256: string; code: string }>;
}
