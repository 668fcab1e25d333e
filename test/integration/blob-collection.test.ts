import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTask } from '../../queues/maintenance.ts';
import { BLOB_GRACE_MS } from '../../src/blobs/collect.ts';
import { bearer, type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The daily `collect-blobs` task removes document bytes no live document refers to (deleted
 * documents, replaced versions, rolled-back uploads), keeps everything else, and never races an
 * upload of the same bytes.
 */
describe('document bytes nothing refers to any more', () => {
  let t: TestServices;
  let a: SeededOrg;
  let b: SeededOrg;
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const blobFile = (sha256: string) => path.join(t.services.config.DATA_DIR, 'blobs', sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  /** Makes a blob look as if it had been stored long ago (past the grace period). */
  const age = async (sha256: string) => {
    const old = new Date(Date.now() - BLOB_GRACE_MS - 60_000);
    await fs.utimes(blobFile(sha256), old, old);
  };
  const putDoc = (org: SeededOrg, externalId: string, content: string) =>
    t.app.request(`/v1/ingest/documents/${externalId}`, {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ caseExternalId: 'case-1', title: externalId, fileName: `${externalId}.txt`, content: Buffer.from(content).toString('base64') }),
    });
  const ingestCase = (org: SeededOrg) =>
    t.app.request('/v1/ingest/cases/case-1', {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ number: 'PI-1', title: 'Case' }),
    });

  beforeAll(async () => {
    t = await createTestServices();
    a = await seedOrg(t.services, 'Firm A');
    b = await seedOrg(t.services, 'Firm B');
    expect((await ingestCase(a)).status).toBe(201);
    expect((await ingestCase(b)).status).toBe(201);
  });
  afterAll(async () => t.cleanup());

  it('removes deleted, replaced and orphaned bytes after the grace period and keeps live and shared ones', async () => {
    expect((await putDoc(a, 'kept', 'kept bytes')).status).toBe(201);
    expect((await putDoc(a, 'changed', 'version 1')).status).toBe(201);
    expect((await putDoc(a, 'changed', 'version 2')).status).toBe(200);
    expect((await putDoc(a, 'deleted', 'deleted bytes')).status).toBe(201);
    expect((await t.app.request('/v1/ingest/documents/deleted', { method: 'DELETE', headers: bearer(a.apiKey) })).status).toBe(200);
    // The same bytes in two organizations; one deletes its document, the other still has it.
    expect((await putDoc(a, 'shared', 'shared bytes')).status).toBe(201);
    expect((await putDoc(b, 'shared', 'shared bytes')).status).toBe(201);
    expect((await t.app.request('/v1/ingest/documents/shared', { method: 'DELETE', headers: bearer(a.apiKey) })).status).toBe(200);
    // An upload whose request failed after its bytes were stored, and one stored just now.
    await t.services.blobs.put(Buffer.from('rolled back'));
    await t.services.blobs.put(Buffer.from('uploading right now'));
    for (const s of ['kept bytes', 'version 1', 'version 2', 'deleted bytes', 'shared bytes', 'rolled back']) await age(sha(s));

    const result = (await runTask(t.services, 'collect-blobs')) as { scanned: number; removed: number };
    expect(result).toMatchObject({ scanned: 7, removed: 3 });
    const present = async (s: string) => (await t.services.blobs.get(sha(s))) !== null;
    expect(await present('kept bytes')).toBe(true);
    expect(await present('version 2')).toBe(true);
    expect(await present('shared bytes')).toBe(true);
    expect(await present('uploading right now')).toBe(true); // within its grace period
    expect(await present('version 1')).toBe(false);
    expect(await present('deleted bytes')).toBe(false);
    expect(await present('rolled back')).toBe(false);
    // The deleted document's row (its tombstone) is still there for sync to propagate.
    const tomb = await t.services.db.selectFrom('documents').select(['sha256', 'deleted_at']).where('external_id', '=', 'deleted').executeTakeFirstOrThrow();
    expect([tomb.sha256, tomb.deleted_at !== null]).toEqual([sha('deleted bytes'), true]);
    // Running again finds nothing more to do.
    expect(await runTask(t.services, 'collect-blobs')).toMatchObject({ removed: 0 });
  });

  it('storing bytes that are already there restarts their grace period, so an upload in flight keeps them', async () => {
    await t.services.blobs.put(Buffer.from('orphan, uploaded again'));
    await age(sha('orphan, uploaded again'));
    // The same bytes arrive again (a new upload, its row not committed yet): the blob is marked as just stored.
    await t.services.blobs.put(Buffer.from('orphan, uploaded again'));
    await runTask(t.services, 'collect-blobs');
    expect(await t.services.blobs.has(sha('orphan, uploaded again'))).toBe(true);
  });

  it('removeIfStoredBefore puts a blob back when a put touched it in the meantime, and removes interrupted writes', async () => {
    const { sha256 } = await t.services.blobs.put(Buffer.from('raced'));
    // A cut-off in the future stands for "the blob was touched after the collector decided".
    expect(await t.services.blobs.removeIfStoredBefore(sha256, new Date(0))).toBe(false);
    expect(await t.services.blobs.has(sha256)).toBe(true);
    const leftover = `${blobFile(sha256)}.00000000-0000-4000-8000-000000000000.tmp`;
    await fs.writeFile(leftover, 'half');
    const old = new Date(Date.now() - BLOB_GRACE_MS - 60_000);
    await fs.utimes(leftover, old, old);
    expect(await t.services.blobs.sweepLeftovers(new Date(Date.now() - BLOB_GRACE_MS))).toBe(1);
    await expect(fs.access(leftover)).rejects.toThrow();
  });
});
