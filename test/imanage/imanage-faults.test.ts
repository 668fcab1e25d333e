import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imanageDocuments } from '../../sandbox/imanage/work.ts';
import { bearer, signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * iManage against the sandbox when things go wrong: a refused server address leaves nothing behind,
 * a 429 and a 503 are waited out without duplicates, a case without a workspace under the `report`
 * policy is reported by client and matter and nothing of it is sent, a metadata-only consent sends
 * nothing, and a refresh refused by the server (refresh tokens off) asks the admin to reconnect.
 */

let env: SyncEnv;
let admin: Record<string, string>;

const faults = (body: unknown) =>
  fetch(`${env.sandbox.url}/_sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function connect(settings: Record<string, unknown>, categories = ['documents.files', 'documents.metadata']): Promise<string> {
  const res = await env.t.app.request('/v1/connections', {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({
      platform: 'imanage',
      categories,
      caseScope: { kind: 'all' },
      settings: { host: `${env.sandbox.url}/imanage`, libraryId: 'ACTIVE', ...settings },
    }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
  const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
  const cb = await env.t.app.request(back.pathname + back.search, { headers: { ...admin, accept: 'application/json' } });
  expect(cb.status, await cb.clone().text()).toBe(200);
  await env.waitIdle();
  return connection.id;
}

async function putDocument(id: string, caseId: string, title: string) {
  const res = await env.t.app.request(`/v1/ingest/documents/${id}`, {
    method: 'PUT',
    headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({ caseExternalId: caseId, title, fileName: `${id}.docx`, content: Buffer.from(`${title} body`).toString('base64') }),
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

async function revokeAll(): Promise<void> {
  const rows = await env.t.services.db.selectFrom('connections').select('id').where('status', '!=', 'revoked').execute();
  for (const r of rows) {
    await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId: r.id }, reason: 'next test' }),
    });
  }
  await env.waitIdle();
}

beforeAll(async () => {
  env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true' } });
  admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
  await env.startWorkers();
  await env.ingest([
    { op: 'upsert', type: 'case', externalId: 'k1', data: { number: '2001-0001', title: 'A v. B', assignees: [] } },
    { op: 'upsert', type: 'case', externalId: 'k2', data: { number: 'NOCLIENT', title: 'C v. D', assignees: [] } },
  ]);
}, 60_000);
afterAll(async () => env?.close());

describe('iManage when things go wrong', () => {
  it('refuses a server URL that is not an absolute URL, and leaves no connection behind', async () => {
    const before = await env.t.services.db.selectFrom('connections').select('id').execute();
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'imanage', categories: ['documents.files'], caseScope: { kind: 'all' }, settings: { host: 'imanage.internal' } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_settings');
    expect(await env.t.services.db.selectFrom('connections').select('id').execute()).toHaveLength(before.length);
  });

  it('reports a case without a workspace (policy report) and one whose number does not split, sending none of their documents', async () => {
    const id = await connect({ unmappedPolicy: 'report' });
    await putDocument('u1', 'k1', 'Brief');
    await putDocument('u2', 'k2', 'Memo');
    await env.waitIdle();
    expect(imanageDocuments(env.sandbox.state)).toEqual([]);
    const errors = await env.t.services.db.selectFrom('sync_item_errors').select(['message']).where('connection_id', '=', id).execute();
    const messages = errors.map((e) => e.message).sort();
    expect(messages).toHaveLength(2);
    expect(messages.some((m) => m.includes('client 2001 and matter 0001'))).toBe(true);
    expect(messages.some((m) => m.includes('NOCLIENT') && m.includes('caseNumberPattern'))).toBe(true);
    const view = (await (await env.t.app.request(`/v1/connections/${id}`, { headers: admin })).json()) as { connection: { counts: { errors: number } } };
    expect(view.connection.counts.errors).toBe(2);
    await revokeAll();
  }, 60_000);

  it('sends nothing under a metadata-only consent', async () => {
    const from = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    await connect({ unmappedPolicy: 'create' }, ['documents.metadata']);
    await env.t.services.queues.enqueueSync(
      (await env.t.services.db.selectFrom('connections').select('id').where('status', '=', 'active').executeTakeFirstOrThrow()).id,
      'manual',
    );
    await env.waitIdle();
    const uploads = env.sandbox.state.ledger.filter((e) => e.seq > from && e.provider === 'imanage' && e.write);
    expect(uploads).toEqual([]);
    await revokeAll();
  }, 60_000);

  it('waits out a 429 and a 503 and files each document exactly once', async () => {
    await faults({ provider: 'imanage', method: 'POST', path: '/documents$', kind: 'status', status: 429, retryAfterSeconds: 1, times: 1 });
    // One request gets one answer: the 429 goes to the first upload, the 503 to the next.
    await faults({ provider: 'imanage', method: 'POST', path: '/documents$', kind: 'status', status: 503, times: 1 });
    const id = await connect({ unmappedPolicy: 'create' });
    await env.waitIdle(60_000);
    const docs = imanageDocuments(env.sandbox.state).filter((d) => d.profile.name === 'Brief');
    expect(docs).toHaveLength(1);
    const outcomes = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['outcome', 'provider_status'])
      .where('connection_id', '=', id)
      .where('operation', '=', 'create')
      .where('outcome', 'in', ['sent', 'failed'])
      .execute();
    expect(
      outcomes
        .filter((o) => o.outcome === 'failed')
        .map((o) => o.provider_status)
        .sort(),
    ).toEqual([429, 503]);
    expect(outcomes.filter((o) => o.outcome === 'sent')).toHaveLength(1);
  }, 90_000);

  it('moves the connection to reauth_required when the server refuses the refresh (refresh tokens off)', async () => {
    const id = (await env.t.services.db.selectFrom('connections').select('id').where('status', '=', 'active').executeTakeFirstOrThrow()).id;
    await fetch(`${env.sandbox.url}/_sandbox/imanage/settings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshTokensEnabled: false }),
    });
    await faults({ provider: 'imanage', kind: 'expire_tokens', times: 1 });
    await putDocument('u3', 'k1', 'Reply');
    await env.waitIdle();
    const view = (await (await env.t.app.request(`/v1/connections/${id}`, { headers: admin })).json()) as {
      connection: { status: string; actions: Array<{ action: string }>; lastError: { message: string } | null };
    };
    expect(view.connection.status).toBe('reauth_required');
    expect(view.connection.actions.map((a) => a.action)).toContain('reconnect');
    expect(JSON.stringify(view)).not.toMatch(/sbx_(at|rt)_/);
  }, 60_000);

  it('revoked mid-upload: the call in flight finishes before the 202, and no request to the library follows it', async () => {
    await fetch(`${env.sandbox.url}/_sandbox/imanage/settings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshTokensEnabled: true }),
    });
    const id = await connect({ unmappedPolicy: 'create' });
    await faults({ provider: 'imanage', method: 'POST', path: '/documents$', kind: 'delay', delayMs: 1500, times: 1 });
    await putDocument('r1', 'k1', 'Late filing');
    await putDocument('r2', 'k1', 'Later filing');
    // Wait until the upload is at the emulator (its workspace lookups are done), then revoke.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const open = await env.t.services.db
        .selectFrom('transfer_log')
        .select('id')
        .where('connection_id', '=', id)
        .where('item_key', 'like', 'document:%')
        .where('outcome', '=', 'intent')
        .execute();
      if (open.length) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seqBefore = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    const res = await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId: id }, reason: 'mid-upload' }),
    });
    expect(res.status).toBe(202);
    const seqAt202 = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    // The delayed upload was drained: it reached the library before the answer.
    const drained = env.sandbox.state.ledger.filter((e) => e.seq > seqBefore && e.seq <= seqAt202 && e.write && e.path.endsWith('/documents'));
    expect(drained).toHaveLength(1);
    await env.waitIdle();
    await new Promise((r) => setTimeout(r, 1000));
    const after = env.sandbox.state.ledger.filter((e) => e.seq > seqAt202 && e.provider === 'imanage' && e.path.includes('/work/api/'));
    expect(after).toEqual([]);
  }, 60_000);
});
