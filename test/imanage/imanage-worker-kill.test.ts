import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imanageDocuments, imanageStore } from '../../sandbox/imanage/work.ts';
import { recoverOpenTransfers } from '../../src/transfers/resolution.ts';
import { bearer, signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';
import { until, workerDatabaseReachable, workerProcesses } from '../sync/support/worker-processes.ts';

/**
 * kill -9 of a worker process between iManage storing uploads and the worker writing their outcome
 * rows (the emulator holds its answers), then a new worker: the retry finds each landed upload by
 * its stamped key (new documents) or by the version iManage already has (new versions) and adopts
 * it, so the emulator holds every document once and every version once; the transfer log is
 * truthful: the killed calls' intents are resolved `took_effect` by the recovery job, and every
 * upload iManage stored has an intent. Needs PostgreSQL (the processes share the database).
 */

const pgReachable = await workerDatabaseReachable();
let env: SyncEnv;
let admin: Record<string, string>;
let connectionId: string;
const workers = workerProcesses(() => env);
const N = 6;

const settings = (body: Record<string, unknown>) =>
  fetch(`${env.sandbox.url}/_sandbox/imanage/settings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const uploads = () =>
  env.sandbox.state.ledger.filter((e) => e.provider === 'imanage' && e.write && e.method === 'POST' && /\/(documents|versions)$/.test(e.path));

async function putDocument(id: string, content: string) {
  const res = await env.t.app.request(`/v1/ingest/documents/${id}`, {
    method: 'PUT',
    headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({ caseExternalId: 'k1', title: `Doc ${id}`, fileName: `${id}.pdf`, content: Buffer.from(content).toString('base64') }),
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

async function killMidUpload(expectStored: number) {
  await settings({ holdAnswersMs: 60_000 });
  const worker = await workers.start();
  await until(() => uploads().length >= expectStored, 60_000, 'uploads stored at iManage');
  worker.kill('SIGKILL');
  await new Promise((r) => worker.once('exit', r));
  await settings({ holdAnswersMs: 0 });
}

describe.skipIf(!pgReachable)('iManage: a worker killed mid-upload', () => {
  beforeAll(async () => {
    process.env.IMANAGE_ALLOW_PRIVATE_HOSTS = 'true';
    env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true', SYNC_JOB_LOCK_SECONDS: '2' } });
    admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
  }, 60_000);
  afterAll(async () => {
    workers.killAll();
    await env?.close();
  });

  it('new documents: no duplicate after the restart, the log resolves the killed uploads as took_effect', async () => {
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        platform: 'imanage',
        categories: ['documents.files', 'documents.metadata'],
        caseScope: { kind: 'all' },
        settings: { host: `${env.sandbox.url}/imanage`, libraryId: 'ACTIVE', unmappedPolicy: 'create' },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
    connectionId = connection.id;
    const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
    expect((await env.t.app.request(back.pathname + back.search, { headers: { ...admin, accept: 'application/json' } })).status).toBe(200);
    await env.ingest([{ op: 'upsert', type: 'case', externalId: 'k1', data: { number: '3001-0001', title: 'Kill v. Nine' } }]);
    for (let i = 0; i < N; i++) await putDocument(`k${i}`, `content ${i} v1`);
    await env.t.services.queues.enqueueSync(connectionId, 'manual');

    // The uploads of the first chunk land at iManage; their answers never reach the killed worker.
    await killMidUpload(2);
    const landedBeforeKill = uploads().length;
    const openIntents = await env.t.services.db
      .selectFrom('transfer_log as i')
      .select('i.item_key')
      .where('i.connection_id', '=', connectionId)
      .where('i.outcome', '=', 'intent')
      .where('i.operation', '=', 'create')
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('transfer_log as o').select('o.id').whereRef('o.intent_id', '=', 'i.id').where('o.outcome', '!=', 'intent'))),
      )
      .execute();
    expect(openIntents.length).toBeGreaterThanOrEqual(landedBeforeKill);

    await workers.start();
    await env.waitIdle(120_000);

    const docs = imanageDocuments(env.sandbox.state);
    expect(docs).toHaveLength(N);
    expect(new Set(docs.map((d) => d.profile.custom16)).size).toBe(N);
    for (const d of docs) expect(d.versions).toHaveLength(1);
    expect(uploads()).toHaveLength(N);

    // Truthful log: the killed calls' intents are turned into unknown and resolved by reading iManage
    // (leaseMs 0: the process that held them is known dead).
    const report = await recoverOpenTransfers(env.t.services, { organizationId: env.org.organizationId, settleMs: 0, leaseMs: 0 });
    expect(report.markedUnknown.length).toBeGreaterThanOrEqual(landedBeforeKill);
    const resolved = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['reason'])
      .where('connection_id', '=', connectionId)
      .where('outcome', '=', 'resolved')
      .execute();
    expect(resolved.length).toBeGreaterThanOrEqual(landedBeforeKill);
    for (const r of resolved) expect(r.reason).toBe('took_effect');
    // Every stored upload has its write-ahead intent.
    const intentKeys = new Set(
      (
        await env.t.services.db
          .selectFrom('transfer_log')
          .select('item_key')
          .where('connection_id', '=', connectionId)
          .where('outcome', '=', 'intent')
          .execute()
      ).map((r) => r.item_key),
    );
    for (const d of docs) expect(intentKeys.has(String(d.profile.custom16))).toBe(true);
  }, 240_000);

  it('new versions: a version that landed before the kill is adopted, not uploaded again', async () => {
    workers.killAll();
    const before = uploads().length;
    for (let i = 0; i < 2; i++) await putDocument(`k${i}`, `content ${i} v2`);
    await env.t.services.queues.enqueueSync(connectionId, 'manual');
    await killMidUpload(before + 1);
    await workers.start();
    await env.waitIdle(120_000);
    const docs = imanageDocuments(env.sandbox.state);
    expect(docs).toHaveLength(N);
    const changed = docs.filter((d) => d.versions.length > 1);
    expect(changed).toHaveLength(2);
    for (const d of changed) expect(d.versions).toHaveLength(2);
    expect(uploads().length - before).toBe(2);
    expect(imanageStore(env.sandbox.state).holdAnswersMs).toBe(0);
  }, 240_000);
});
