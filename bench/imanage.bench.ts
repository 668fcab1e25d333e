import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { startWorkers } from '../queues/index.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/auth/sessions.ts';
import { vaultFor } from '../src/connections/token-refresh.ts';
import type { Benchmark, BenchResult } from './benchmark.ts';
import { sandboxCall, setup, startSandboxProcess } from './sync.bench.ts';

/**
 * iManage Work, against the sandbox in its own process (keeping no document bytes, so it stays
 * small), the workers in this process:
 *
 * Run in this order (the memory measurement first, before the other runs have grown the process):
 * 1. Upload throughput (MB/s) of the real sync (engine + gate + transfer log + streamed multipart
 *    from the encrypted blob store) for BENCH_IMANAGE_DOCS documents of 1–20 MB (default 200), against
 *    a baseline in the same run: a bare streaming multipart upload of the same files from the same
 *    blob store to the same emulator, at the same concurrency (4, the per-firm limit). Goal ≥ 0.8.
 * 2. Peak RSS and heap of this process while the sync uploads one BENCH_IMANAGE_BIG_MB document
 *    (default 200 MB), above the idle values just before. Goal: under 100 MB above idle.
 * 3. A no-change reconcile of 1,000 filed documents: provider calls (goal 0) and time.
 *
 * PGlite in memory by default; BENCH_DATABASE_URL=postgres://… uses PostgreSQL.
 */

const MB = 1024 * 1024;
const DOCS = Number(process.env.BENCH_IMANAGE_DOCS ?? 200);
const BIG_MB = Number(process.env.BENCH_IMANAGE_BIG_MB ?? 200);
const NOOP_DOCS = 1000;
const CONCURRENCY = 4;

/** A file of `bytes` bytes generated in 64 KiB pieces (unique per call), never whole in memory. */
async function* file(bytes: number): AsyncIterable<Uint8Array> {
  const block = randomBytes(MB);
  const tag = randomBytes(16);
  for (let offset = 0, i = 0; offset < bytes; offset += 64 * 1024, i++) {
    const n = Math.min(64 * 1024, bytes - offset);
    const piece = Buffer.from(block.subarray((i * 64 * 1024) % MB, ((i * 64 * 1024) % MB) + n));
    tag.copy(piece, 0, 0, Math.min(16, n));
    if (n >= 24) piece.writeUInt32BE(i, 16);
    yield piece;
  }
}

export const imanageBenchmark: Benchmark = {
  name: 'imanage',
  async run(): Promise<BenchResult[]> {
    const sandbox = await startSandboxProcess();
    const env = await setup(sandbox, { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true', IMANAGE_RATE_PER_MINUTE: '100000' });
    const { services, app } = env;
    const results: BenchResult[] = [];
    const workers = await startWorkers(services, { maintenance: false });
    try {
      await sandboxCall(sandbox.url, '/_sandbox/imanage/settings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ keepContent: false }),
      });
      // An administrator connects the firm's (sandbox) server.
      const admin = await services.db
        .insertInto('users')
        .values({ organization_id: env.organizationId, email: 'admin@bench.example', name: 'Admin', role: 'admin', picture_url: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      const { id: sid, session } = await services.sessions.create({ userId: admin.id, organizationId: env.organizationId, role: 'admin', method: 'test' });
      const headers = { cookie: `${SESSION_COOKIE}=${sid}`, [CSRF_HEADER]: session.csrfToken };
      const connect = async (caseIds: string[]) => {
        const res = await app.request('/v1/connections', {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({
            platform: 'imanage',
            categories: ['documents.files', 'documents.metadata'],
            caseScope: { kind: 'cases', caseIds },
            settings: { host: `${sandbox.url}/imanage`, libraryId: 'ACTIVE', unmappedPolicy: 'create' },
          }),
        });
        if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
        const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
        const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
        const cb = await app.request(back.pathname + back.search, { headers: { ...headers, accept: 'application/json' } });
        if (cb.status !== 200) throw new Error(`callback: ${cb.status} ${await cb.text()}`);
        return connection.id;
      };
      const kase = async (n: number) =>
        (
          await services.db
            .insertInto('cases')
            .values({
              organization_id: env.organizationId,
              external_id: `bench-${n}`,
              number: `900${n}-0001`,
              title: `Bench ${n}`,
              status: 'open',
              assignees: '[]',
            })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;
      const addDocuments = async (caseId: string, sizes: number[], prefix: string) => {
        const docs: Array<{ sha256: string; size: number; name: string }> = [];
        for (const [i, size] of sizes.entries()) {
          const { sha256 } = await services.blobs.putStream(file(size));
          const name = `${prefix}-${i}.pdf`;
          await services.db
            .insertInto('documents')
            .values({
              organization_id: env.organizationId,
              external_id: `${prefix}-${i}`,
              case_id: caseId,
              title: name,
              file_name: name,
              mime_type: 'application/pdf',
              size_bytes: size,
              sha256,
            })
            .execute();
          docs.push({ sha256, size, name });
        }
        return docs;
      };
      const imanageCalls = async () =>
        (await sandboxCall<{ entries: Array<{ path: string }> }>(sandbox.url, '/_sandbox/ledger?provider=imanage')).entries.filter((e) =>
          e.path.includes('/work/api/'),
        ).length;
      const syncAndWait = async (connectionId: string, expected: number) => {
        await services.queues.enqueueSync(connectionId, 'manual');
        const deadline = Date.now() + 3_600_000;
        for (;;) {
          const row = await services.db
            .selectFrom('sync_state')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('connection_id', '=', connectionId)
            .executeTakeFirstOrThrow();
          if (Number(row.n) >= expected) return;
          if (Date.now() > deadline) throw new Error('sync did not finish');
          await new Promise((r) => setTimeout(r, 50));
        }
      };

      // 2. Peak memory while one big document is uploaded.
      const c2 = await kase(2);
      await addDocuments(c2, [BIG_MB * MB], 'big');
      const conn2 = await connect([c2]);
      await new Promise((r) => setTimeout(r, 500));
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((r) => setTimeout(r, 200));
      const idle = process.memoryUsage();
      let peakRss = idle.rss;
      let peakHeap = idle.heapUsed;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }, 10);
      const t2 = performance.now();
      await syncAndWait(conn2, 1);
      clearInterval(sampler);
      const bigS = (performance.now() - t2) / 1000;
      const rssAbove = (peakRss - idle.rss) / MB;
      results.push({
        name: `imanage: peak RSS above idle while uploading one ${BIG_MB} MB document`,
        unit: 'MB',
        subject: rssAbove,
        baseline: BIG_MB,
        ratio: rssAbove / BIG_MB,
        ratioMeaning: 'RSS growth / file size',
        goal: '< 100 MB above idle',
        met: rssAbove < 100,
        extra: {
          idleRssMb: idle.rss / MB,
          peakRssMb: peakRss / MB,
          heapAboveIdleMb: (peakHeap - idle.heapUsed) / MB,
          seconds: bigS,
          mbPerSecond: BIG_MB / bigS,
        },
      });

      // 1. Throughput.
      const c1 = await kase(1);
      const sizes = Array.from({ length: DOCS }, (_, i) => (1 + ((i * 7) % 20)) * MB);
      const docs = await addDocuments(c1, sizes, 'tp');
      const totalMb = sizes.reduce((a, b) => a + b, 0) / MB;
      // The sync waits until the subject's turn: connecting enqueues the first sync, which would
      // otherwise upload these documents while the baseline runs (and the subject time only its tail).
      await services.queues.sync.pause();
      const conn1 = await connect([c1]);
      await new Promise((r) => setTimeout(r, 500)); // discovery after the callback
      // Baseline: the same files, streamed from the same blob store as bare multipart uploads, same concurrency.
      const token = (await vaultFor(services).load(conn1))!.accessToken;
      const api = `${sandbox.url}/imanage/work/api/v2/customers/1/libraries/ACTIVE`;
      const ws = (await (
        await fetch(`${api}/workspaces`, {
          method: 'POST',
          headers: { 'x-auth-token': token, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Baseline', custom1: '8000', custom2: '0001' }),
        })
      ).json()) as { data: { id: string } };
      const folder = (await (
        await fetch(`${api}/workspaces/${encodeURIComponent(ws.data.id)}/folders`, {
          method: 'POST',
          headers: { 'x-auth-token': token, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Baseline' }),
        })
      ).json()) as { data: { id: string } };
      const bare = async (d: (typeof docs)[number]) => {
        const boundary = `----bench${randomBytes(8).toString('hex')}`;
        const head = Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="profile"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ doc_profile: { name: d.name, extension: 'PDF' } })}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${d.name}"\r\nContent-Type: application/pdf\r\n\r\n`,
        );
        const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
        const content = (await services.blobs.open(d.sha256))!;
        async function* body() {
          yield head;
          yield* content;
          yield tail;
        }
        const res = await fetch(`${api}/folders/${encodeURIComponent(folder.data.id)}/documents`, {
          method: 'POST',
          headers: {
            'x-auth-token': token,
            'content-type': `multipart/form-data; boundary=${boundary}`,
            'content-length': String(head.length + d.size + tail.length),
          },
          body: ReadableStream.from(body()),
          duplex: 'half',
        } as RequestInit & { duplex: 'half' });
        if (res.status !== 201) throw new Error(`bare upload: ${res.status}`);
        await res.text();
      };
      const limit = pLimit(CONCURRENCY);
      const bareRun = async () => {
        const t = performance.now();
        await Promise.all(docs.map((d) => limit(() => bare(d))));
        return (performance.now() - t) / 1000;
      };
      // Warm-up (the emulator's and the blob store's first calls), then the baseline before and after
      // the subject (the machine is shared: the mean of both evens out drift in its load).
      await Promise.all(docs.slice(0, 3).map((d) => limit(() => bare(d))));
      const before = await bareRun();
      await services.queues.sync.resume();
      const t1 = performance.now();
      await syncAndWait(conn1, DOCS);
      const subjectS = (performance.now() - t1) / 1000;
      const after = await bareRun();
      const baselineS = (before + after) / 2;
      const subject = totalMb / subjectS;
      const baseline = totalMb / baselineS;
      results.push({
        name: `imanage: upload throughput, ${DOCS} documents of 1–20 MB (${totalMb.toFixed(0)} MB), sync vs bare streaming multipart`,
        unit: 'MB/s',
        subject,
        baseline,
        ratio: subject / baseline,
        goal: '≥ 0.8',
        met: subject / baseline >= 0.8,
        extra: { subjectSeconds: subjectS, baselineSecondsBefore: before, baselineSecondsAfter: after },
      });

      // 3. A no-change reconcile of 1,000 filed documents.
      const c3 = await kase(3);
      await addDocuments(
        c3,
        Array.from({ length: NOOP_DOCS }, () => 1024),
        'noop',
      );
      const conn3 = await connect([c3]);
      await syncAndWait(conn3, NOOP_DOCS);
      await new Promise((r) => setTimeout(r, 1000));
      const callsBefore = await imanageCalls();
      const t3 = performance.now();
      await services.queues.enqueueSync(conn3, 'full');
      // Wait for the run to be recorded as finished.
      const startedAt = new Date();
      for (let i = 0; i < 600; i++) {
        const row = await services.db.selectFrom('connections').select(['last_sync_at']).where('id', '=', conn3).executeTakeFirst();
        if (row?.last_sync_at && new Date(row.last_sync_at) >= startedAt) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const noopMs = performance.now() - t3;
      const calls = (await imanageCalls()) - callsBefore;
      results.push({
        name: `imanage: no-change reconcile of ${NOOP_DOCS} filed documents`,
        unit: 'provider calls',
        subject: calls,
        baseline: null,
        ratio: null,
        goal: '0 calls',
        met: calls === 0,
        extra: { ms: noopMs },
      });
    } finally {
      await workers.close();
      await env.cleanup();
      await sandbox.close();
    }
    return results;
  },
};
