import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imanageDocuments, imanageStore } from '../../sandbox/imanage/work.ts';
import { recoverOpenTransfers } from '../../src/transfers/resolution.ts';
import { bearer, signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * iManage Work end to end, against the sandbox over real HTTP: an administrator connects the firm's
 * server (OAuth on the host they chose), the library is discovered, each case maps to its matter
 * workspace (found by client/matter, or created from the template), documents are uploaded once, a
 * changed file becomes a version, a changed title only a profile update, a deleted document stays in
 * iManage, a re-run asks nothing; every upload has its transfer-log row; a lost answer makes no
 * duplicate; revocation logs out.
 */

let env: SyncEnv;
let admin: Record<string, string>;
let connectionId: string;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const imanageWrites = (from = 0) => env.sandbox.state.ledger.filter((e) => e.provider === 'imanage' && e.seq > from && e.path.includes('/work/api/'));
const lastSeq = () => env.sandbox.state.ledger.at(-1)?.seq ?? 0;

async function putDocument(id: string, caseId: string, body: { title: string; content: string; fileName?: string }) {
  const res = await env.t.app.request(`/v1/ingest/documents/${id}`, {
    method: 'PUT',
    headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({
      caseExternalId: caseId,
      title: body.title,
      fileName: body.fileName ?? `${id}.pdf`,
      content: Buffer.from(body.content).toString('base64'),
    }),
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

async function sync(reason: 'manual' | 'full' = 'manual') {
  await env.t.services.queues.enqueueSync(connectionId, reason);
  await env.waitIdle();
}

beforeAll(async () => {
  env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true' } });
  admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
  await env.startWorkers();
}, 60_000);
afterAll(async () => env?.close());

const connectBody = () => ({
  platform: 'imanage',
  categories: ['documents.files', 'documents.metadata'],
  caseScope: { kind: 'all' },
  settings: { host: `${env.sandbox.url}/imanage`, libraryId: 'ACTIVE', unmappedPolicy: 'create', templateWorkspaceId: 'ACTIVE!1' },
});

describe('iManage Work', () => {
  it('refuses a member: the firm server is connected by an administrator for the organization', async () => {
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...env.member, 'content-type': 'application/json' },
      body: JSON.stringify(connectBody()),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('admin_required');
  });

  it('connects as admin through OAuth on the chosen host and discovers the customer and libraries', async () => {
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify(connectBody()),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
    expect(authorizationUrl.startsWith(`${env.sandbox.url}/imanage/auth/oauth2/authorize?`)).toBe(true);
    const authorize = await fetch(authorizationUrl, { redirect: 'manual' });
    expect(authorize.status).toBe(302);
    const back = new URL(authorize.headers.get('location')!);
    const cb = await env.t.app.request(back.pathname + back.search, { headers: { ...admin, accept: 'application/json' } });
    expect(cb.status, await cb.clone().text()).toBe(200);
    connectionId = connection.id;
    await env.waitIdle();
    const view = (await (await env.t.app.request(`/v1/connections/${connectionId}`, { headers: admin })).json()) as {
      connection: { status: string; settings: { libraryId: string; libraries: string[]; customerId: string } };
    };
    expect(view.connection.status).toBe('active');
    expect(view.connection.settings).toMatchObject({ libraryId: 'ACTIVE', libraries: ['ACTIVE', 'ARCHIVE'], customerId: '1' });
    // The token is never shown.
    expect(JSON.stringify(view)).not.toMatch(/sbx_(at|rt)_/);
  });

  it('files the documents of two cases: an existing workspace found, a missing one created from the template, each document once', async () => {
    // The firm already has a workspace for client 1001 / matter 0001.
    imanageStore(env.sandbox.state).containers.set('ACTIVE!900', {
      id: 'ACTIVE!900',
      library: 'ACTIVE',
      kind: 'workspace',
      name: 'Hartmann v. Keller',
      parentId: null,
      custom1: '1001',
      custom2: '0001',
      template: false,
    });
    await env.ingest([
      { op: 'upsert', type: 'case', externalId: 'c1', data: { number: '1001-0001', title: 'Hartmann v. Keller', assignees: [env.org.member.email] } },
      { op: 'upsert', type: 'case', externalId: 'c2', data: { number: '1002-0007', title: 'Estate of Berg', assignees: [env.org.member.email] } },
    ]);
    await putDocument('d1', 'c1', { title: 'Complaint', content: 'complaint v1' });
    await putDocument('d2', 'c1', { title: 'Answer', content: 'answer v1' });
    await putDocument('d3', 'c2', { title: 'Will', content: 'will v1' });
    await sync();

    const docs = imanageDocuments(env.sandbox.state);
    expect(docs).toHaveLength(3);
    const byName = new Map(docs.map((d) => [d.profile.name, d]));
    expect(byName.get('Complaint')!.workspaceId).toBe('ACTIVE!900');
    expect(byName.get('Answer')!.workspaceId).toBe('ACTIVE!900');
    const created = [...imanageStore(env.sandbox.state).containers.values()].find((c) => c.custom1 === '1002' && c.custom2 === '0007');
    expect(created?.kind).toBe('workspace');
    expect(byName.get('Will')!.workspaceId).toBe(created!.id);
    expect(byName.get('Complaint')!.profile).toMatchObject({ custom1: '1001', custom2: '0001', extension: 'PDF' });
    expect(String(byName.get('Complaint')!.profile.custom16)).toMatch(/^document:/);
    expect(byName.get('Complaint')!.versions[0]!.sha256).toBe(sha(Buffer.from('complaint v1')));

    // One `sent` upload row per document, naming the library and folder; as many as the emulator's uploads.
    const uploads = imanageWrites().filter((e) => e.write && e.method === 'POST' && e.path.endsWith('/documents'));
    expect(uploads).toHaveLength(3);
    const rows = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['outcome', 'recipient_account', 'recipient_destination', 'remote_id', 'operation'])
      .where('connection_id', '=', connectionId)
      .where('operation', '=', 'create')
      .where('outcome', '=', 'sent')
      .execute();
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      expect(r.recipient_account).toBe(`${env.sandbox.url}/imanage`);
      expect(r.recipient_destination).toMatch(/^ACTIVE\/ACTIVE!\d+$/);
    }
    expect(new Set(rows.map((r) => r.remote_id))).toEqual(new Set(docs.map((d) => d.id)));
  }, 60_000);

  it('a re-run with nothing changed makes zero provider calls', async () => {
    const from = lastSeq();
    await sync();
    expect(imanageWrites(from)).toEqual([]);
  }, 30_000);

  it('a changed file becomes a new version; a changed title only a profile update; a deleted document stays', async () => {
    let from = lastSeq();
    await putDocument('d1', 'c1', { title: 'Complaint', content: 'complaint v2' });
    await sync();
    let calls = imanageWrites(from);
    expect(calls.map((e) => `${e.method} ${e.path.replace(/.*\/libraries\/ACTIVE/, '')}`)).toEqual([
      expect.stringMatching(/^POST \/documents\/ACTIVE!\d+\/versions$/),
    ]);
    const complaint = imanageDocuments(env.sandbox.state).find((d) => d.profile.name === 'Complaint')!;
    expect(complaint.versions.map((v) => v.sha256)).toEqual([sha(Buffer.from('complaint v1')), sha(Buffer.from('complaint v2'))]);
    expect(imanageDocuments(env.sandbox.state)).toHaveLength(3);

    from = lastSeq();
    await putDocument('d2', 'c1', { title: 'Answer (amended)', content: 'answer v1' });
    await sync();
    calls = imanageWrites(from);
    expect(calls.map((e) => e.method)).toEqual(['PATCH']);
    const answer = imanageDocuments(env.sandbox.state).find((d) => d.profile.name === 'Answer (amended)')!;
    expect(answer.versions).toHaveLength(1);

    from = lastSeq();
    const del = await env.t.app.request('/v1/ingest/documents/d3', { method: 'DELETE', headers: bearer(env.org.apiKey) });
    expect(del.status).toBeLessThan(300);
    await sync();
    expect(imanageWrites(from)).toEqual([]);
    expect(imanageDocuments(env.sandbox.state).some((d) => d.profile.name === 'Will')).toBe(true);
    const tracked = await env.t.services.db.selectFrom('sync_state').select('item_key').where('connection_id', '=', connectionId).execute();
    expect(tracked).toHaveLength(2);
  }, 60_000);

  it('an upload whose answer was lost is not uploaded again: the retry finds the stamped key', async () => {
    await fetch(`${env.sandbox.url}/_sandbox/imanage/settings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dropAnswers: 1 }),
    });
    await putDocument('d4', 'c2', { title: 'Codicil', content: 'codicil v1' });
    await sync();
    await env.waitIdle();
    const codicils = imanageDocuments(env.sandbox.state).filter((d) => d.profile.name === 'Codicil');
    expect(codicils).toHaveLength(1);
    const rows = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['outcome'])
      .where('connection_id', '=', connectionId)
      .where('item_key', 'like', 'document:%')
      .where('operation', '=', 'create')
      .where('outcome', '!=', 'intent')
      .orderBy('seq')
      .execute();
    // The first try's outcome is unknown (the write landed, the answer did not); the retry adopted it.
    expect(rows.map((r) => r.outcome).slice(-2)).toEqual(['unknown', 'sent']);
    const state = await env.t.services.db
      .selectFrom('sync_state')
      .select(['remote_id'])
      .where('connection_id', '=', connectionId)
      .where('item_key', 'like', 'document:%')
      .execute();
    expect(state.map((s) => s.remote_id)).toContain(codicils[0]!.id);

    // The recovery job resolves the unknown upload by searching the stamped key: it took effect.
    await recoverOpenTransfers(env.t.services, { organizationId: env.org.organizationId, settleMs: 0 });
    const resolved = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['reason'])
      .where('connection_id', '=', connectionId)
      .where('operation', '=', 'create')
      .where('outcome', '=', 'resolved')
      .execute();
    expect(resolved.map((r) => r.reason)).toEqual(['took_effect']);
  }, 60_000);

  it('streams a multi-chunk file whole: the bytes iManage stores hash as the blob does', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 12_345);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 9)) & 0xff;
    const res = await env.t.app.request('/v1/ingest/documents/d5', {
      method: 'PUT',
      headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ caseExternalId: 'c2', title: 'Exhibit bundle', fileName: 'bundle.pdf', content: big.toString('base64') }),
    });
    expect(res.status).toBeLessThan(300);
    await sync();
    const bundle = imanageDocuments(env.sandbox.state).find((d) => d.profile.name === 'Exhibit bundle')!;
    expect(bundle.versions[0]!.size).toBe(big.length);
    expect(bundle.versions[0]!.sha256).toBe(sha(big));
    const row = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['payload_bytes'])
      .where('connection_id', '=', connectionId)
      .where('item_key', 'like', 'document:%')
      .where('outcome', '=', 'sent')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    expect(Number(row.payload_bytes)).toBeGreaterThan(big.length);
  }, 60_000);

  it('revocation ends the session at iManage (logout) and forgets the workspace mapping', async () => {
    const res = await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId }, reason: 'test' }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const { revocation } = (await res.json()) as { revocation: { id: string } };
    const deadline = Date.now() + 30_000;
    let status = '';
    while (Date.now() < deadline) {
      const r = (await (await env.t.app.request(`/v1/admin/revocations/${revocation.id}`, { headers: admin })).json()) as { revocation: { status: string } };
      status = r.revocation.status;
      if (status === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('completed');
    expect(imanageStore(env.sandbox.state).logouts).toBe(1);
    const mapped = await env.t.services.db.selectFrom('imanage_case_folders').selectAll().where('connection_id', '=', connectionId).execute();
    expect(mapped).toEqual([]);
    // The documents stay: they are the firm's record.
    expect(imanageDocuments(env.sandbox.state).length).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
