import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileBlobStore } from '../src/blobs/blob-store.ts';
import { S3BlobStore } from '../src/blobs/s3-blob-store.ts';
import type { BlobStore } from '../src/blobs/types.ts';
import { parseKeyring } from '../src/connections/token-vault.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';

/**
 * Blob store: upload and download MB/s of the S3 store (against s3rver, an S3-compatible server in
 * its own process on loopback) and of the local directory, for 1 MB and 100 MB documents, both
 * encrypted the same way; and the peak RSS of a process streaming a 500 MB document up and back
 * down through each store (goal: under 100 MB above the process's idle RSS), measured in a child
 * process of its own so nothing else counts. The baseline of the throughput rows is the directory
 * store in the same run. BENCH_BLOB_RSS_MB changes the size of the RSS document.
 */

const MB = 1024 * 1024;
const RSS_DOCUMENT_MB = Number(process.env.BENCH_BLOB_RSS_MB ?? 500);
const KEYRING = `bench:${randomBytes(32).toString('base64')}`;
const BUCKET = 'casebridge-bench';
const REPO = path.resolve(import.meta.dirname, '..');

/**
 * A document of `bytes` bytes, generated piece by piece (64 KiB) and unique per call, so nothing
 * but the store's own buffers holds it.
 */
async function* document(bytes: number): AsyncIterable<Uint8Array> {
  const block = randomBytes(MB);
  const tag = randomBytes(16);
  for (let offset = 0, i = 0; offset < bytes; offset += 64 * 1024, i++) {
    const piece = Buffer.from(block.subarray((i * 64 * 1024) % MB, ((i * 64 * 1024) % MB) + Math.min(64 * 1024, bytes - offset)));
    tag.copy(piece, 0, 0, Math.min(16, piece.length));
    if (piece.length >= 24) piece.writeUInt32BE(i, 16);
    yield piece;
  }
}

async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const part of stream) n += part.byteLength;
  return n;
}

/** Upload and download MB/s of `store` for `rounds` documents of `sizeMb`. */
async function throughput(store: BlobStore, sizeMb: number, rounds: number): Promise<{ up: number; down: number }> {
  let upMs = 0;
  let downMs = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const { sha256 } = await store.putStream(document(sizeMb * MB));
    const t1 = performance.now();
    const read = await drain((await store.open(sha256))!);
    const t2 = performance.now();
    if (read !== sizeMb * MB) throw new Error('short read');
    upMs += t1 - t0;
    downMs += t2 - t1;
    await store.removeIfStoredBefore(sha256, new Date(Date.now() + 60_000));
  }
  return { up: (sizeMb * rounds) / (upMs / 1000), down: (sizeMb * rounds) / (downMs / 1000) };
}

/** s3rver in a process of its own (so it neither shares the event loop nor counts in any RSS). */
async function startS3Process(): Promise<{ endpoint: string; child: ChildProcess; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-bench-s3-'));
  const code = `import S3rver from 's3rver';
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.env.S3_DIR, configureBuckets: [{ name: '${BUCKET}' }] });
    const { port } = await server.run();
    process.stdout.write(port + '\\n');`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--input-type=module', '-e', code], {
    cwd: REPO,
    env: { ...process.env, S3_DIR: dir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', (c) => reject(new Error(`s3rver exited (${c})`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, child, dir };
}

function s3Store(endpoint: string, prefix: string): S3BlobStore {
  return S3BlobStore.fromConfig(
    `s3://${BUCKET}/${prefix}`,
    { S3_ENDPOINT: endpoint, S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: true, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER' },
    parseKeyring(KEYRING),
  );
}

/**
 * Run in a child process: streams a document of RSS_DOCUMENT_MB up and back down through one store,
 * sampling RSS every 10 ms; prints `{ idleMb, peakMb, upMs, downMs }`.
 */
export async function streamingRssChild(): Promise<void> {
  const kind = process.env.BENCH_BLOB_KIND;
  const store = kind === 's3' ? s3Store(process.env.BENCH_S3_ENDPOINT!, 'rss') : new FileBlobStore(process.env.BENCH_BLOB_DIR!, parseKeyring(KEYRING));
  // Warm up (modules, TLS-less agents, cipher) so "idle" is the process ready to serve.
  const warm = await store.putStream(document(MB));
  await drain((await store.open(warm.sha256))!);
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const idle = process.memoryUsage().rss;
  let peak = idle;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  const t0 = performance.now();
  const { sha256 } = await store.putStream(document(RSS_DOCUMENT_MB * MB));
  const t1 = performance.now();
  const read = await drain((await store.open(sha256))!);
  const t2 = performance.now();
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  if (read !== RSS_DOCUMENT_MB * MB) throw new Error('short read');
  process.stdout.write(`${JSON.stringify({ idleMb: idle / MB, peakMb: peak / MB, upMs: t1 - t0, downMs: t2 - t1 })}\n`);
}

async function measureRss(env: Record<string, string>): Promise<{ idleMb: number; peakMb: number; upMs: number; downMs: number }> {
  const self = path.resolve(import.meta.dirname, 'blobs.bench.ts');
  const code = `const m = await import(${JSON.stringify(self)}); await m.streamingRssChild(); process.exit(0);`;
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += String(d);
  });
  const code_ = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code_ !== 0) throw new Error(`RSS child exited ${code_}`);
  return JSON.parse(out.trim().split('\n').pop()!);
}

export const blobsBenchmark: Benchmark = {
  name: 'blobs',
  async run(): Promise<BenchResult[]> {
    const s3 = await startS3Process();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-bench-blobs-'));
    try {
      const local = new FileBlobStore(dir, parseKeyring(KEYRING));
      const remote = s3Store(s3.endpoint, 'throughput');
      const results: BenchResult[] = [];
      for (const [sizeMb, rounds] of [
        [1, 20],
        [100, 2],
      ] as const) {
        await throughput(remote, sizeMb, 1); // warm-up
        const l = await throughput(local, sizeMb, rounds);
        const r = await throughput(remote, sizeMb, rounds);
        for (const way of ['up', 'down'] as const) {
          results.push({
            name: `blob ${way === 'up' ? 'upload' : 'download'} ${sizeMb} MB: S3 (s3rver on loopback) vs local directory`,
            unit: 'MB/s',
            subject: r[way],
            baseline: l[way],
            ratio: r[way] / l[way],
            ratioMeaning: 'S3 MB/s ÷ directory MB/s (both encrypted)',
            goal: '(reported)',
          });
        }
      }
      // The ingest API has the bytes at hand and calls `put`, which knows the address up front
      // (no temporary object, no server-side copy).
      const block = randomBytes(MB);
      const putMBps = async (store: BlobStore) => {
        const t0 = performance.now();
        for (let i = 0; i < 20; i++) {
          block.writeUInt32BE(i, 0);
          block.writeUInt32BE(Math.floor(Math.random() * 2 ** 32), 4);
          await store.put(block);
        }
        return 20 / ((performance.now() - t0) / 1000);
      };
      await putMBps(remote);
      const [putLocal, putRemote] = [await putMBps(local), await putMBps(remote)];
      results.push({
        name: 'blob upload 1 MB with put (bytes at hand, as the ingest API does): S3 vs local directory',
        unit: 'MB/s',
        subject: putRemote,
        baseline: putLocal,
        ratio: putRemote / putLocal,
        ratioMeaning: 'S3 MB/s ÷ directory MB/s (both encrypted)',
        goal: '(reported)',
      });
      for (const kind of ['local', 's3'] as const) {
        const m = await measureRss({
          BENCH_BLOB_KIND: kind,
          BENCH_BLOB_DIR: path.join(dir, 'rss'),
          BENCH_S3_ENDPOINT: s3.endpoint,
        });
        const above = m.peakMb - m.idleMb;
        results.push({
          name: `peak RSS above idle while streaming a ${RSS_DOCUMENT_MB} MB document up and down — ${kind === 's3' ? 'S3' : 'local directory'}`,
          unit: 'MB',
          subject: above,
          baseline: null,
          ratio: null,
          goal: '< 100 MB',
          met: above < 100,
          extra: {
            idleMb: Math.round(m.idleMb),
            peakMb: Math.round(m.peakMb),
            uploadMBps: RSS_DOCUMENT_MB / (m.upMs / 1000),
            downloadMBps: RSS_DOCUMENT_MB / (m.downMs / 1000),
          },
        });
      }
      return results;
    } finally {
      s3.child.kill();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(s3.dir, { recursive: true, force: true });
    }
  },
};
