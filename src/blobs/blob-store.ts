import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Content-addressed storage for document bytes, keyed by SHA-256 hex. An interface so an
 * S3-compatible implementation can replace the file system one without touching callers.
 */
export interface BlobStore {
  /**
   * Stores the bytes and returns their SHA-256 (hex). Storing bytes that are already there writes
   * nothing but marks the blob as just stored, so the collector leaves it alone for its grace period.
   */
  put(bytes: Uint8Array): Promise<{ sha256: string; size: number }>;
  get(sha256: string): Promise<Uint8Array | null>;
  has(sha256: string): Promise<boolean>;
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

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Blob store under a directory: `<dir>/ab/cd/abcd…` with atomic rename on write. */
export class FileBlobStore implements BlobStore {
  constructor(private readonly dir: string) {}

  private pathFor(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error('invalid blob id');
    return path.join(this.dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async put(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const target = this.pathFor(sha256);
    // Already there: mark it as stored now (the collector's grace period starts again). If the
    // collector took it away in the meantime, the touch fails and the bytes are written afresh.
    if (!(await touch(target))) {
      await fs.mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.${randomUUID()}.tmp`;
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, target);
    }
    return { sha256, size: bytes.byteLength };
  }

  async get(sha256: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await fs.readFile(this.pathFor(sha256)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
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
    for (const a of await subdirectories(this.dir)) {
      for (const b of await subdirectories(path.join(this.dir, a))) {
        const dir = path.join(this.dir, a, b);
        for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
          if (!LEFTOVER.test(name)) continue;
          const file = path.join(dir, name);
          const stat = await fs.stat(file).catch(() => null);
          if (stat && stat.mtime < olderThan && (await fs.unlink(file).then(() => true, () => false))) removed++;
        }
      }
    }
    return removed;
  }
}

/** `<sha256>.<uuid>.tmp` (a write in progress) or `.gc` (a collection in progress). */
const LEFTOVER = /^[0-9a-f]{64}\.[0-9a-f-]{36}\.(tmp|gc)$/;

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
