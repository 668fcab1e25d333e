import { sql } from 'kysely';
import type { Services } from '../services.ts';

/**
 * Removes document bytes nothing needs any more: blobs no live (not deleted) document of any
 * organization refers to — the content of deleted documents, earlier versions of changed ones, and
 * uploads whose request was rolled back. Blobs stored within the grace period are left alone, so an
 * upload between storing its bytes and committing its row is never collected (and `put` of bytes
 * already there restarts their grace period). Run daily by the maintenance queue (`collect-blobs`).
 *
 * Tombstoned document rows keep their metadata and SHA-256 (sync propagates the deletion); only the
 * bytes go. The blob store is content-addressed and shared by organizations, so a blob stays while
 * any organization still has a live document with those bytes.
 */
export const BLOB_GRACE_MS = 60 * 60_000;

export interface BlobCollection {
  scanned: number;
  removed: number;
  leftoversRemoved: number;
}

export async function collectBlobs(services: Services, options: { graceMs?: number; now?: Date } = {}): Promise<BlobCollection> {
  const storedBefore = new Date((options.now ?? new Date()).getTime() - (options.graceMs ?? BLOB_GRACE_MS));
  const result: BlobCollection = { scanned: 0, removed: 0, leftoversRemoved: 0 };
  let batch: string[] = [];
  const flush = async () => {
    if (!batch.length) return;
    const { rows } = await sql<{ sha256: string }>`
      SELECT DISTINCT sha256 FROM documents WHERE sha256 = ANY(${batch}::text[]) AND deleted_at IS NULL`.execute(services.db);
    const live = new Set(rows.map((r) => r.sha256));
    for (const sha256 of batch) {
      if (!live.has(sha256) && (await services.blobs.removeIfStoredBefore(sha256, storedBefore))) result.removed++;
    }
    batch = [];
  };
  for await (const blob of services.blobs.list()) {
    result.scanned++;
    if (blob.storedAt >= storedBefore) continue;
    batch.push(blob.sha256);
    if (batch.length >= 500) await flush();
  }
  await flush();
  result.leftoversRemoved = await services.blobs.sweepLeftovers(storedBefore);
  if (result.removed || result.leftoversRemoved) services.logger.info(result, 'unreferenced document bytes removed');
  return result;
}
