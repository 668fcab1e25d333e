import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imanageDocuments, imanageStore } from '../../sandbox/imanage/work.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * The iManage Work pages over `app.request()`: an administrator's connect flow (server address with
 * the API's refusals, the firm's OAuth client, the generic consent screen with the practice-area
 * scope and the preview, the firm's sign-in page), then the status page with the library choice
 * and the first sync, against the sandbox's iManage; a member sees the status only and gets 403
 * `admin_required` for every admin action, with nothing written.
 */

const html = { accept: 'text/html' };
const codeOf = async (res: Response) => /data-error-code="([a-z_]+)"/.exec(await res.text())?.[1];

function pagesOf(app: TestServices['app']) {
  const get = (h: Record<string, string>, path: string) => app.request(path, { headers: { cookie: h.cookie!, ...html } });
  const post = (h: Record<string, string>, path: string, body: Record<string, string | string[]>, withCsrf = true) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    if (withCsrf) params.append('_csrf', h['x-csrf-token']!);
    return app.request(path, {
      method: 'POST',
      headers: { cookie: h.cookie!, 'content-type': 'application/x-www-form-urlencoded', ...html },
      body: params.toString(),
    });
  };
  return { get, post };
}

async function ingestCases(t: TestServices, apiKey: string, cases: Array<{ id: string; number: string; practiceArea?: string }>) {
  for (const k of cases) {
    const res = await t.app.request(`/v1/ingest/cases/${k.id}`, {
      method: 'PUT',
      headers: { ...bearer(apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ number: k.number, title: `Case ${k.number}`, ...(k.practiceArea ? { practiceArea: k.practiceArea } : {}) }),
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
  }
}

describe('iManage pages: the connect flow up to the firm’s sign-in page', () => {
  let t: TestServices;
  let org: SeededOrg;
  let admin: Record<string, string>;
  let member: Record<string, string>;
  let pages: ReturnType<typeof pagesOf>;
  const connections = async () => t.services.db.selectFrom('connections').select(['id', 'status']).execute();

  beforeAll(async () => {
    // IMANAGE_ALLOW_PRIVATE_HOSTS off, as in production.
    t = await createTestServices({ SANDBOX_URL: 'http://127.0.0.1:9' });
    org = await seedOrg(t.services, 'Imanage Pages Firm');
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    pages = pagesOf(t.app);
    await ingestCases(t, org.apiKey, [
      { id: 'lit', number: '1001-0001', practiceArea: 'Litigation' },
      { id: 'lit2', number: '1001-0002', practiceArea: ' litigation' },
      { id: 'tax', number: '1002-0001', practiceArea: 'Tax' },
    ]);
  }, 60_000);
  afterAll(async () => t?.cleanup());

  it('leads the connected-apps card and the generic consent address to the iManage page', async () => {
    const apps = await (await pages.get(member, '/apps')).text();
    expect(apps).toContain('href="/imanage"');
    expect(apps).not.toContain('href="/apps/connect/imanage"');
    const generic = await pages.get(admin, '/apps/connect/imanage');
    expect(generic.status).toBe(302);
    expect(generic.headers.get('location')).toBe('/imanage');
  });

  it('shows a member the status without admin controls, and answers every admin action with 403 admin_required', async () => {
    const page = await pages.get(member, '/imanage');
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain('Your administrator has not connected iManage Work');
    expect(body).not.toContain('/imanage/connect');
    for (const path of ['/imanage/connect', '/imanage/consent?host=https%3A%2F%2F93.184.215.14']) {
      const res = await pages.get(member, path);
      expect(res.status, path).toBe(403);
      expect(await codeOf(res), path).toBe('admin_required');
    }
    const posted = await pages.post(member, '/imanage/consent', {
      host: 'https://93.184.215.14',
      categories: 'documents.files',
      scope: 'all',
      policyVersion: '2026-11-01',
    });
    expect(posted.status).toBe(403);
    const client = await pages.post(member, '/imanage/client', { clientId: 'x', clientSecret: 'y' });
    expect(client.status).toBe(403);
    expect(await connections()).toEqual([]);
    expect(await t.services.db.selectFrom('imanage_firm_clients').select('client_id').execute()).toEqual([]);
  });

  it.each([
    ['', 'invalid_host'],
    ['not a url', 'invalid_host'],
    ['http://dms.example.com', 'host_not_https'],
    ['https://127.0.0.1:8443', 'host_not_allowed'],
    ['https://169.254.169.254', 'host_not_allowed'],
  ])('refuses the server %j on the form with 400 %s, keeps what was typed and writes nothing', async (host, code) => {
    const res = await pages.post(admin, '/imanage/connect', { host, libraryId: '', deletePolicy: 'leave' });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(/data-error-code="([a-z_]+)"/.exec(body)?.[1]).toBe(code);
    expect(body).toContain('id="host-form"');
    if (host) expect(body).toContain(`value="${host}"`);
    expect(await connections()).toEqual([]);
  });

  it('refuses a library alias of the wrong shape with the settings schema’s message', async () => {
    const res = await pages.post(admin, '/imanage/connect', { host: 'https://93.184.215.14', libraryId: 'no spaces!', deletePolicy: 'leave' });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain('data-error-code="invalid_settings"');
    expect(body).toContain('a library alias such as ACTIVE_US');
  });

  it('registers the firm’s OAuth client without ever showing the secret again', async () => {
    const res = await pages.post(admin, '/imanage/client', { clientId: 'firm-client-id', clientSecret: 'firm-secret-value-123' });
    expect(res.status).toBe(303);
    const page = await pages.get(admin, res.headers.get('location')!);
    const body = await page.text();
    expect(body).toContain('client id firm-client-id');
    expect(body).not.toContain('firm-secret-value-123');
    const audit = await t.services.db.selectFrom('audit_log').select(['action', 'details']).where('action', '=', 'imanage_client.update').execute();
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain('firm-secret-value-123');
  });

  it('goes from the server address to the consent screen with the practice areas, the preview and the firm’s origin as a form target', async () => {
    const res = await pages.post(admin, '/imanage/connect', { host: 'https://93.184.215.14', libraryId: 'ACTIVE', deletePolicy: 'mark' });
    expect(res.status).toBe(303);
    const location = res.headers.get('location')!;
    expect(location.startsWith('/imanage/consent?')).toBe(true);
    const consent = await pages.get(admin, location);
    expect(consent.status).toBe(200);
    expect(consent.headers.get('content-security-policy')).toContain("form-action 'self' https://93.184.215.14");
    const body = await consent.text();
    expect(body).toContain('id="consent-form"');
    expect(body).toContain('name="host" value="https://93.184.215.14"');
    expect(body).toContain('name="deletePolicy" value="mark"');
    // The practice areas of the organization's cases, each once.
    expect(body.match(/name="practiceAreas" value="[^"]+"/g)).toEqual(['name="practiceAreas" value="Litigation"', 'name="practiceAreas" value="Tax"']);
    expect(body).toContain('id="preview"');
    // Single cases are not offered for an organization's server.
    expect(body).not.toContain('id="scope-cases"');
    expect(await connections()).toEqual([]);
  });

  it('refuses an empty practice-area choice with 400 empty_case_scope and writes nothing', async () => {
    const res = await pages.post(admin, '/imanage/consent', {
      host: 'https://93.184.215.14',
      libraryId: 'ACTIVE',
      deletePolicy: 'leave',
      categories: 'documents.files',
      scope: 'practice_areas',
      policyVersion: '2026-11-01',
    });
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe('empty_case_scope');
    expect(await connections()).toEqual([]);
  });

  it('records the consent (method consent_screen, practice-area scope) with the settings and sends the browser to the firm’s sign-in page', async () => {
    const res = await pages.post(admin, '/imanage/consent', {
      host: 'https://93.184.215.14',
      libraryId: 'ACTIVE',
      deletePolicy: 'mark',
      categories: 'documents.files',
      scope: 'practice_areas',
      practiceAreas: ['Tax'],
      policyVersion: '2026-11-01',
    });
    expect(res.status, await res.clone().text()).toBe(303);
    const url = new URL(res.headers.get('location')!);
    expect(`${url.origin}${url.pathname}`).toBe('https://93.184.215.14/auth/oauth2/authorize');
    expect(url.searchParams.get('client_id')).toBe('firm-client-id');
    const [row] = await t.services.db.selectFrom('connections').select(['id', 'status', 'settings', 'platform']).execute();
    expect(row).toMatchObject({
      status: 'pending',
      platform: 'imanage',
      settings: { host: 'https://93.184.215.14', libraryId: 'ACTIVE', deletePolicy: 'mark' },
    });
    const consent = await t.services.db
      .selectFrom('consents')
      .select(['method', 'case_scope', 'categories'])
      .where('connection_id', '=', row!.id)
      .executeTakeFirstOrThrow();
    expect(consent).toEqual({ method: 'consent_screen', case_scope: { kind: 'practice_areas', practiceAreas: ['Tax'] }, categories: ['documents.files'] });
    // The status page shows it to a member too, without the controls.
    const status = await (await pages.get(member, '/imanage')).text();
    expect(status).toContain('https://93.184.215.14');
    expect(status).toContain('Practice areas: Tax');
    expect(status).not.toContain('id="imanage-settings"');
  });
});

describe('iManage pages: sign-in at the sandbox, library choice, first sync, disconnect', () => {
  let env: SyncEnv;
  let admin: Record<string, string>;
  let pages: ReturnType<typeof pagesOf>;
  let connectionId: string;

  beforeAll(async () => {
    env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true' } });
    admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    pages = pagesOf(env.t.app);
    await env.startWorkers();
    await ingestCases(env.t, env.org.apiKey, [
      { id: 'c1', number: '1001-0001' },
      { id: 'c2', number: '1002-0009' },
    ]);
    // The firm's workspace for client 1001 / matter 0001; case 1002-0009 has none (reported, not created).
    imanageStore(env.sandbox.state).containers.set('ACTIVE!900', {
      id: 'ACTIVE!900',
      library: 'ACTIVE',
      kind: 'workspace',
      name: 'Case 1001-0001',
      parentId: null,
      custom1: '1001',
      custom2: '0001',
      template: false,
    });
    const doc = await env.t.app.request('/v1/ingest/documents/d1', {
      method: 'PUT',
      headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ caseExternalId: 'c1', title: 'Complaint', fileName: 'complaint.pdf', content: Buffer.from('complaint').toString('base64') }),
    });
    expect(doc.status).toBeLessThan(300);
    const unmapped = await env.t.app.request('/v1/ingest/documents/d2', {
      method: 'PUT',
      headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ caseExternalId: 'c2', title: 'Will', fileName: 'will.pdf', content: Buffer.from('will').toString('base64') }),
    });
    expect(unmapped.status).toBeLessThan(300);
  }, 60_000);
  afterAll(async () => env?.close());

  it('connects without a library, lands on the status page, files nothing until a library is chosen, then files the document', async () => {
    const host = `${env.sandbox.url}/imanage`;
    const consent = await pages.post(admin, '/imanage/consent', {
      host,
      libraryId: '',
      deletePolicy: 'leave',
      categories: ['documents.files', 'documents.metadata'],
      scope: 'all',
      policyVersion: '2026-11-01',
    });
    expect(consent.status, await consent.clone().text()).toBe(303);
    const authorize = await fetch(consent.headers.get('location')!, { redirect: 'manual' });
    const back = new URL(authorize.headers.get('location')!);
    const callback = await env.t.app.request(back.pathname + back.search, { headers: { cookie: admin.cookie!, ...html } });
    expect(callback.status).toBe(302);
    // `/?connected=<id>` → `/apps/<id>?connected=1` → the iManage page.
    let next = new URL(callback.headers.get('location')!, 'http://x');
    const first = await pages.get(admin, next.pathname + next.search);
    next = new URL(first.headers.get('location')!, 'http://x');
    const second = await pages.get(admin, next.pathname + next.search);
    expect(second.status).toBe(302);
    expect(second.headers.get('location')).toBe('/imanage?connected=1');
    await env.waitIdle();
    const page = await (await pages.get(admin, '/imanage?connected=1')).text();
    connectionId = /data-connection-id="([0-9a-f-]{36})"/.exec(page)![1]!;
    expect(page).toContain('Connected. The first sync is under way');
    expect(/id="imanage-library">([^<]*)</.exec(page)?.[1]).toBe('not chosen yet');
    expect(page).toContain('id="imanage-settings"');
    // The server's libraries, learned at discovery, are offered.
    expect([...page.matchAll(/<option value="([A-Z]+)"/g)].map((m) => m[1])).toEqual(['ACTIVE', 'ARCHIVE']);
    expect(imanageDocuments(env.sandbox.state)).toHaveLength(0);

    const saved = await pages.post(admin, `/imanage/${connectionId}/settings`, { libraryId: 'ACTIVE', deletePolicy: 'delete' });
    expect(saved.status, await saved.clone().text()).toBe(303);
    await env.t.services.queues.enqueueSync(connectionId, 'manual');
    await env.waitIdle();
    const after = await (await pages.get(admin, '/imanage')).text();
    expect(/id="imanage-library">([^<]*)</.exec(after)?.[1]).toBe('ACTIVE');
    expect(after).toContain('Delete them in iManage');
    expect(imanageDocuments(env.sandbox.state).map((d) => d.profile.name)).toEqual(['Complaint']);
    // The document of the case without a workspace is counted as not filed.
    expect(/id="imanage-counts">([^<]*)</.exec(after)?.[1]).toMatch(/^1 filed, 1 not filed/);
  });

  it('refuses a member’s settings change with 403 admin_required and changes nothing', async () => {
    const res = await pages.post(env.member, `/imanage/${connectionId}/settings`, { libraryId: 'ARCHIVE' });
    expect(res.status).toBe(403);
    expect(await codeOf(res)).toBe('admin_required');
    const row = await env.t.services.db.selectFrom('connections').select('settings').where('id', '=', connectionId).executeTakeFirstOrThrow();
    expect((row.settings as { libraryId: string }).libraryId).toBe('ACTIVE');
    const status = await (await pages.get(env.member, '/imanage')).text();
    expect(status).toContain('ACTIVE');
    expect(status).not.toContain('id="disconnect-imanage"');
  });

  it('refuses an unknown delete policy with a 4xx and a stable code', async () => {
    const res = await pages.post(admin, `/imanage/${connectionId}/settings`, { deletePolicy: 'shred' });
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe('invalid_settings');
  });

  it('disconnects from the status page and shows the signed receipt', async () => {
    const res = await pages.post(admin, `/apps/${connectionId}/disconnect`, { remote: 'keep' });
    expect(res.status).toBe(303);
    const receipt = res.headers.get('location')!;
    expect(receipt).toMatch(/^\/receipts\/[0-9a-f-]{36}$/);
    let page = '';
    for (let i = 0; i < 100 && !page.includes('id="receipt-verified"'); i++) {
      await env.waitIdle();
      page = await (await pages.get(admin, receipt)).text();
      if (!page.includes('id="receipt-verified"')) await new Promise((r) => setTimeout(r, 200));
    }
    expect(page).toContain('id="receipt-verified"');
    expect(await (await pages.get(admin, '/imanage')).text()).toContain('id="connect-imanage"');
  });
});
