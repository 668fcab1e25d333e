import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imanageDocuments } from '../../sandbox/imanage/work.ts';
import { bearer, signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * iManage under a consent scoped to practice areas, and the delete policy, against the sandbox over
 * real HTTP: only the documents of cases in the consented practice areas (case-insensitively) are
 * filed; a case moved to another practice area leaves the scope and its documents are handled by
 * the delete policy (`mark`: one profile update with the mark, no upload; `delete`: one DELETE); a
 * document deleted in Casebridge likewise; the gate refuses an out-of-scope case even if a connector
 * asked; a purging revocation applies the policy to everything still filed. Each as the exact calls
 * in the emulator's ledger.
 */

let env: SyncEnv;
let admin: Record<string, string>;
let connectionId: string;

const lastSeq = () => env.sandbox.state.ledger.at(-1)?.seq ?? 0;
const calls = (from: number) =>
  env.sandbox.state.ledger
    .filter((e) => e.provider === 'imanage' && e.seq > from && e.path.includes('/work/api/'))
    .map((e) => `${e.method} ${e.path.replace(/.*\/libraries\/ACTIVE/, '')}`);
const byName = (name: string) => imanageDocuments(env.sandbox.state).find((d) => d.profile.name === name);

async function putDocument(id: string, caseId: string, title: string) {
  const res = await env.t.app.request(`/v1/ingest/documents/${id}`, {
    method: 'PUT',
    headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({ caseExternalId: caseId, title, fileName: `${id}.pdf`, content: Buffer.from(`${title} content`).toString('base64') }),
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

async function sync() {
  await env.t.services.queues.enqueueSync(connectionId, 'manual');
  await env.waitIdle();
}

async function patchSettings(settings: Record<string, unknown>) {
  const res = await env.t.app.request(`/v1/connections/${connectionId}`, {
    method: 'PATCH',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ settings }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await env.waitIdle();
}

beforeAll(async () => {
  env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true' } });
  admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
  await env.startWorkers();
  await env.ingest([
    { op: 'upsert', type: 'case', externalId: 'lit1', data: { number: '2001-0001', title: 'Acme v. Beta', practiceArea: 'Litigation' } },
    { op: 'upsert', type: 'case', externalId: 'lit2', data: { number: '2001-0002', title: 'Gamma v. Delta', practiceArea: 'litigation ' } },
    { op: 'upsert', type: 'case', externalId: 'tax1', data: { number: '2002-0001', title: 'Epsilon audit', practiceArea: 'Tax' } },
    { op: 'upsert', type: 'case', externalId: 'none', data: { number: '2003-0001', title: 'No area' } },
  ]);
  await putDocument('l1', 'lit1', 'Lit one');
  await putDocument('l2', 'lit2', 'Lit two');
  await putDocument('l3', 'lit2', 'Lit three');
  await putDocument('t1', 'tax1', 'Tax one');
  await putDocument('n1', 'none', 'None one');
}, 60_000);
afterAll(async () => env?.close());

describe('iManage: practice-area scope and the delete policy', () => {
  it('refuses an empty practice-area list with 400 and writes nothing', async () => {
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        platform: 'imanage',
        categories: ['documents.files'],
        caseScope: { kind: 'practice_areas', practiceAreas: [] },
        settings: { host: `${env.sandbox.url}/imanage`, libraryId: 'ACTIVE' },
      }),
    });
    expect(res.status).toBe(400);
    expect(await env.t.services.db.selectFrom('connections').select('id').execute()).toEqual([]);
  });

  it('files only the documents of cases in the consented practice areas', async () => {
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        platform: 'imanage',
        categories: ['documents.files', 'documents.metadata'],
        caseScope: { kind: 'practice_areas', practiceAreas: ['LITIGATION', 'Litigation'] },
        settings: { host: `${env.sandbox.url}/imanage`, libraryId: 'ACTIVE', unmappedPolicy: 'create', deletePolicy: 'mark' },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
    connectionId = connection.id;
    const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
    expect((await env.t.app.request(back.pathname + back.search, { headers: { ...admin, accept: 'application/json' } })).status).toBe(200);
    await env.waitIdle();
    await sync();
    expect(
      imanageDocuments(env.sandbox.state)
        .map((d) => d.profile.name)
        .sort(),
    ).toEqual(['Lit one', 'Lit three', 'Lit two']);
    const consent = (await (await env.t.app.request(`/v1/connections/${connectionId}/consent`, { headers: admin })).json()) as {
      consent: { caseScope: unknown };
    };
    // Stored without the case-insensitive duplicate.
    expect(consent.consent.caseScope).toEqual({ kind: 'practice_areas', practiceAreas: ['LITIGATION'] });
    // Nothing of the other cases ever reached the gate as a transfer.
    const rows = await env.t.services.db.selectFrom('transfer_log').select(['item_key', 'outcome']).where('connection_id', '=', connectionId).execute();
    const tax = await env.t.services.db.selectFrom('documents').select('id').where('external_id', 'in', ['t1', 'n1']).execute();
    for (const d of tax) expect(rows.some((r) => r.item_key === `document:${d.id}`)).toBe(false);
  }, 60_000);

  it('a case moved out of the practice areas: its documents are marked (one profile update each, no upload), then no longer tracked', async () => {
    const from = lastSeq();
    await env.ingest([{ op: 'upsert', type: 'case', externalId: 'lit2', data: { number: '2001-0002', title: 'Gamma v. Delta', practiceArea: 'Tax' } }]);
    await env.waitIdle();
    await sync();
    expect(calls(from).sort()).toEqual([
      expect.stringMatching(/^PATCH \/documents\/ACTIVE!\d+\.1$/),
      expect.stringMatching(/^PATCH \/documents\/ACTIVE!\d+\.1$/),
    ]);
    expect(byName('Lit two')!.profile.custom15).toBe('removed from Casebridge');
    expect(byName('Lit three')!.profile.custom15).toBe('removed from Casebridge');
    expect(byName('Lit one')!.profile.custom15).toBeUndefined();
    expect(byName('Lit two')!.versions).toHaveLength(1);
    const tracked = await env.t.services.db.selectFrom('sync_state').select('item_key').where('connection_id', '=', connectionId).execute();
    expect(tracked).toHaveLength(1);
    // The marks are logged as deletes that carried no case data.
    const marks = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['field_names', 'outcome'])
      .where('connection_id', '=', connectionId)
      .where('operation', '=', 'delete')
      .where('outcome', '=', 'sent')
      .execute();
    expect(marks).toHaveLength(2);
    for (const m of marks) expect(m.field_names).toEqual([]);
    const from2 = lastSeq();
    await sync();
    expect(calls(from2)).toEqual([]);
  }, 60_000);

  it('refuses a mark field that is the client or matter number', async () => {
    const res = await env.t.app.request(`/v1/connections/${connectionId}`, {
      method: 'PATCH',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ settings: { markField: 'custom2' } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_settings');
  });

  it('policy delete: a document deleted in Casebridge is deleted in iManage with one DELETE', async () => {
    await patchSettings({ deletePolicy: 'delete' });
    await putDocument('l4', 'lit1', 'Lit four');
    await sync();
    expect(byName('Lit four')).toBeDefined();
    const from = lastSeq();
    const del = await env.t.app.request('/v1/ingest/documents/l4', { method: 'DELETE', headers: bearer(env.org.apiKey) });
    expect(del.status).toBeLessThan(300);
    await env.waitIdle();
    await sync();
    expect(calls(from)).toEqual([expect.stringMatching(/^DELETE \/documents\/ACTIVE!\d+$/)]);
    expect(byName('Lit four')).toBeUndefined();
    expect(byName('Lit one')).toBeDefined();
  }, 60_000);

  it('the gate itself refuses a document of a case outside the practice areas', async () => {
    const kase = await env.t.services.db.selectFrom('cases').select('id').where('external_id', '=', 'tax1').executeTakeFirstOrThrow();
    let called = false;
    const r = await env.t.services.gate.send(
      { connectionId, purpose: 'sync', actor: { kind: 'system', reason: 'test' } },
      {
        operation: 'create',
        categories: ['documents.files'],
        subjects: { caseIds: [kase.id] },
        recipient: { account: 'x', destination: 'y' },
        fields: { content: 'abc' },
        itemKey: 'document:test',
      },
      async () => {
        called = true;
        return { value: null, status: 201, remoteId: 'x' };
      },
    );
    expect(r.outcome).toBe('blocked');
    expect(r.outcome === 'blocked' && r.reason).toBe('case_out_of_scope');
    expect(called).toBe(false);
  });

  it('a revocation that purges applies the delete policy to everything still filed', async () => {
    const from = lastSeq();
    const res = await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId }, reason: 'test', purgeRemote: true }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const { revocation } = (await res.json()) as { revocation: { id: string } };
    const deadline = Date.now() + 30_000;
    let status = '';
    while (Date.now() < deadline && status !== 'completed') {
      const r = (await (await env.t.app.request(`/v1/admin/revocations/${revocation.id}`, { headers: admin })).json()) as { revocation: { status: string } };
      status = r.revocation.status;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('completed');
    expect(calls(from)).toEqual([expect.stringMatching(/^DELETE \/documents\/ACTIVE!\d+$/)]);
    expect(byName('Lit one')).toBeUndefined();
    // Marked earlier (under the mark policy), no longer tracked: left as they were.
    expect(byName('Lit two')).toBeDefined();
  }, 60_000);
});
