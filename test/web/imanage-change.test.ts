import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imanageDocuments, imanageStore } from '../../sandbox/imanage/work.ts';
import { bearer, signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * "Change what is shared" for the organization's iManage connection: the consent screen starts from
 * the current consent, its preview shows only what the new scope releases, saving records consent
 * version 2 with method `consent_screen`, and the sync that follows removes the documents of the
 * cases that left the scope (delete policy `delete`) from the sandbox's iManage and keeps the rest.
 * A member gets 403 `admin_required` and nothing changes.
 */

const html = { accept: 'text/html' };

describe('iManage pages: change what is shared', () => {
  let env: SyncEnv;
  let admin: Record<string, string>;
  let connectionId: string;
  const get = (h: Record<string, string>, path: string) => env.t.app.request(path, { headers: { cookie: h.cookie!, ...html } });
  const post = (h: Record<string, string>, path: string, body: Record<string, string | string[]>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    params.append('_csrf', h['x-csrf-token']!);
    return env.t.app.request(path, {
      method: 'POST',
      headers: { cookie: h.cookie!, 'content-type': 'application/x-www-form-urlencoded', ...html },
      body: params.toString(),
    });
  };
  const filed = () =>
    imanageDocuments(env.sandbox.state)
      .map((d) => d.profile.name)
      .sort();
  const consents = () =>
    env.t.services.db
      .selectFrom('consents')
      .select(['version', 'method', 'case_scope', 'withdrawn_at'])
      .where('connection_id', '=', connectionId)
      .orderBy('version')
      .execute();

  beforeAll(async () => {
    env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true' } });
    admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    await env.startWorkers();
    for (const k of [
      { id: 'lit', number: '1001-0001', practiceArea: 'Litigation' },
      { id: 'tax', number: '1002-0001', practiceArea: 'Tax' },
    ]) {
      const res = await env.t.app.request(`/v1/ingest/cases/${k.id}`, {
        method: 'PUT',
        headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
        body: JSON.stringify({ number: k.number, title: `Case ${k.number}`, practiceArea: k.practiceArea }),
      });
      expect(res.status).toBeLessThan(300);
    }
    for (const [id, client] of [
      ['ACTIVE!900', '1001'],
      ['ACTIVE!901', '1002'],
    ] as const) {
      imanageStore(env.sandbox.state).containers.set(id, {
        id,
        library: 'ACTIVE',
        kind: 'workspace',
        name: `Case ${client}-0001`,
        parentId: null,
        custom1: client,
        custom2: '0001',
        template: false,
      });
    }
    for (const [id, caseId, title] of [
      ['d1', 'lit', 'Complaint'],
      ['d2', 'tax', 'Tax memo'],
    ] as const) {
      const res = await env.t.app.request(`/v1/ingest/documents/${id}`, {
        method: 'PUT',
        headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
        body: JSON.stringify({ caseExternalId: caseId, title, fileName: `${id}.pdf`, content: Buffer.from(title).toString('base64') }),
      });
      expect(res.status).toBeLessThan(300);
    }
    const consent = await post(admin, '/imanage/consent', {
      host: `${env.sandbox.url}/imanage`,
      libraryId: 'ACTIVE',
      deletePolicy: 'delete',
      categories: ['documents.files', 'documents.metadata'],
      scope: 'all',
      policyVersion: '2026-11-01',
    });
    expect(consent.status, await consent.clone().text()).toBe(303);
    const authorize = await fetch(consent.headers.get('location')!, { redirect: 'manual' });
    const back = new URL(authorize.headers.get('location')!);
    const callback = await env.t.app.request(back.pathname + back.search, { headers: { cookie: admin.cookie!, ...html } });
    expect(callback.status).toBe(302);
    await env.waitIdle();
    const row = await env.t.services.db.selectFrom('connections').select('id').where('platform', '=', 'imanage').executeTakeFirstOrThrow();
    connectionId = row.id;
    await env.t.services.queues.enqueueSync(connectionId, 'manual');
    await env.waitIdle();
  }, 90_000);
  afterAll(async () => env?.close());

  it('files both cases’ documents under the first consent', () => {
    expect(filed()).toEqual(['Complaint', 'Tax memo']);
  });

  it('shows the change screen from the current consent, and a preview of only what the new scope releases', async () => {
    const status = await (await get(admin, '/imanage')).text();
    expect(status).toContain(`href="/imanage/${connectionId}/change"`);
    const current = await get(admin, `/imanage/${connectionId}/change`);
    expect(current.status).toBe(200);
    const body = await current.text();
    expect(body).toContain('Currently consent version 1');
    expect(body).toContain('data-total="2"');
    expect(body).toContain('Complaint');
    const narrowed = await (await get(admin, `/imanage/${connectionId}/change?categories=documents.files&scope=practice_areas&practiceAreas=Tax`)).text();
    // One item, the Tax case's file, without the title (documents.metadata is unticked).
    expect(narrowed).toContain('data-total="1"');
    expect(narrowed).toContain('d2.pdf');
    expect(narrowed).toContain('1002-0001');
    expect(narrowed).not.toContain('d1.pdf');
    expect(narrowed).not.toContain('Tax memo');
    expect(narrowed).not.toContain('1001-0001');
    // Nothing was recorded by looking.
    expect((await consents()).map((c) => c.version)).toEqual([1]);
  });

  it('refuses a member with 403 admin_required and records nothing', async () => {
    for (const res of [
      await get(env.member, `/imanage/${connectionId}/change`),
      await post(env.member, `/imanage/${connectionId}/change`, {
        categories: 'documents.files',
        scope: 'practice_areas',
        practiceAreas: 'Tax',
        policyVersion: '2026-11-01',
      }),
    ]) {
      expect(res.status).toBe(403);
      expect(/data-error-code="([a-z_]+)"/.exec(await res.text())?.[1]).toBe('admin_required');
    }
    expect((await consents()).map((c) => c.version)).toEqual([1]);
  });

  it('records consent version 2 (consent_screen) and the sync removes the documents of the case that left the scope', async () => {
    const res = await post(admin, `/imanage/${connectionId}/change`, {
      categories: 'documents.files',
      scope: 'practice_areas',
      practiceAreas: 'Tax',
      policyVersion: '2026-11-01',
    });
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get('location')).toBe('/imanage?changed=2');
    const rows = await consents();
    expect(rows.map((c) => [c.version, c.method])).toEqual([
      [1, 'consent_screen'],
      [2, 'consent_screen'],
    ]);
    expect(rows[1]!.case_scope).toEqual({ kind: 'practice_areas', practiceAreas: ['Tax'] });
    await env.waitIdle();
    // Without documents.metadata the profile's name is the file's, not the title.
    expect(filed()).toEqual(['d2']);
    const page = await (await get(admin, '/imanage?changed=2')).text();
    expect(page).toContain('Saved as consent version 2');
    expect(page).toContain('Practice areas: Tax');
  });
});
