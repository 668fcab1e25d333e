import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The pages over `app.request()`: sign-in redirects, CSP nonces, CSRF on every form, bad input as a
 * 4xx with a stable code and nothing written, the feed URL shown once, and tenancy.
 */
describe('in-app pages', () => {
  let t: TestServices;
  let org: SeededOrg;
  let member: Record<string, string>;
  let admin: Record<string, string>;
  let caseId: string;

  const html = { accept: 'text/html' };
  const csrfOf = (h: Record<string, string>) => h['x-csrf-token']!;
  const form = (h: Record<string, string>, body: Record<string, string | string[]>, withCsrf = true) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    if (withCsrf) params.append('_csrf', csrfOf(h));
    return { method: 'POST', headers: { cookie: h.cookie!, 'content-type': 'application/x-www-form-urlencoded', ...html }, body: params.toString() };
  };
  const connectionCount = async () =>
    Number(
      (
        await t.services.db
          .selectFrom('connections')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    t = await createTestServices({ SANDBOX_URL: 'http://127.0.0.1:9' });
    org = await seedOrg(t.services);
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const res = await t.app.request('/v1/ingest/cases/k1', {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ number: 'PI-1', title: 'Doe v. Roe', assignees: [org.member.email] }),
    });
    expect(res.status).toBe(201);
    caseId = ((await res.json()) as { id: string }).id;
  });
  afterAll(async () => t?.cleanup());

  it('sends a visitor without a session to sign in, and back afterwards', async () => {
    const res = await t.app.request('/apps', { headers: html });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/login?returnTo=%2Fapps');
  });

  it('gives every page a fresh CSP nonce, no third-party origin and no caching', async () => {
    const a = await t.app.request('/apps', { headers: { cookie: member.cookie!, ...html } });
    const b = await t.app.request('/apps', { headers: { cookie: member.cookie!, ...html } });
    expect(a.status).toBe(200);
    const nonceOf = (csp: string) => /'nonce-([^']+)'/.exec(csp)?.[1];
    const csp = a.headers.get('content-security-policy')!;
    expect(nonceOf(csp)).toBeTruthy();
    expect(nonceOf(csp)).not.toBe(nonceOf(b.headers.get('content-security-policy')!));
    expect(csp).not.toMatch(/https?:\/\/(?!127\.0\.0\.1:9)/);
    expect(a.headers.get('cache-control')).toBe('no-store');
    const body = await a.text();
    expect(body.startsWith('<!doctype html>')).toBe(true);
    expect(body).not.toMatch(/<script(?![^>]*nonce=)/);
    const css = await t.app.request('/assets/casebridge.css');
    expect(css.headers.get('content-type')).toContain('text/css');
  });

  it('refuses a form without the session CSRF token and writes nothing', async () => {
    const before = await connectionCount();
    const res = await t.app.request(
      '/apps/connect/google_calendar',
      form(member, { categories: 'calendar.events', scope: 'all', policyVersion: '2026-11-01' }, false),
    );
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('data-error-code="csrf_token_invalid"');
    expect(await connectionCount()).toBe(before);
  });

  it('answers bad consent input with a 4xx and a stable code, never a 500 or a pending connection', async () => {
    const before = await connectionCount();
    const cases: Array<[Record<string, string | string[]>, number, string]> = [
      [{ categories: 'documents.files', scope: 'all', policyVersion: '2026-11-01' }, 400, 'invalid_categories'],
      [{ categories: 'calendar.events', scope: 'everything', policyVersion: '2026-11-01' }, 400, 'validation_failed'],
      [{ categories: 'calendar.events', scope: 'cases', caseIds: 'not-a-uuid', policyVersion: '2026-11-01' }, 400, 'validation_failed'],
      [{ categories: 'calendar.events', scope: 'cases', policyVersion: '2026-11-01' }, 400, 'empty_case_scope'],
      [{ scope: 'all', policyVersion: '2026-11-01' }, 400, 'no_categories'],
      [{ categories: 'calendar.events', scope: 'all', policyVersion: '2000-01-01' }, 409, 'policy_version_outdated'],
      [{ categories: 'calendar.events', scope: 'cases', caseIds: '00000000-0000-4000-8000-000000000001', policyVersion: '2026-11-01' }, 400, 'unknown_case'],
    ];
    for (const [body, status, code] of cases) {
      const res = await t.app.request('/apps/connect/google_calendar', form(member, body));
      expect(res.status, code).toBe(status);
      expect(await res.text(), code).toContain(`data-error-code="${code}"`);
    }
    const json = await t.app.request('/apps/connect/google_calendar', {
      ...form(member, cases[0]![0]),
      headers: { ...form(member, {}).headers, accept: 'application/json' },
    });
    expect(await json.json()).toMatchObject({ error: { code: 'invalid_categories' } });
    expect(await connectionCount()).toBe(before);
  });

  it('records the consent as consent_screen and sends the browser to the provider', async () => {
    const res = await t.app.request(
      '/apps/connect/google_calendar',
      form(member, { categories: 'calendar.events', scope: 'cases', caseIds: caseId, policyVersion: '2026-11-01' }),
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:9\/google\/o\/oauth2\/v2\/auth\?/);
    const consent = await t.services.db.selectFrom('consents').select(['method', 'case_scope']).orderBy('granted_at', 'desc').executeTakeFirstOrThrow();
    expect(consent.method).toBe('consent_screen');
    expect(consent.case_scope).toEqual({ kind: 'cases', caseIds: [caseId] });
  });

  it("does not show another user's connection", async () => {
    const own = await t.services.db.selectFrom('connections').select('id').where('user_id', '=', org.member.id).executeTakeFirstOrThrow();
    const other = await seedOrg(t.services, 'Other Firm');
    const stranger = await signInAs(t.services, { id: other.member.id, organizationId: other.organizationId, role: 'member' });
    const res = await t.app.request(`/apps/${own.id}`, { headers: { cookie: stranger.cookie!, ...html } });
    expect(res.status).toBe(404);
    const bad = await t.app.request('/apps/not-a-uuid', { headers: { cookie: member.cookie!, ...html } });
    expect(bad.status).toBe(404);
  });

  it('lands a finished connection on its progress page', async () => {
    const id = '3f2b8a52-64a8-4a53-9f1b-3a7f6f1f9a10';
    const res = await t.app.request(`/?connected=${id}`);
    expect(res.headers.get('location')).toBe(`/apps/${id}?connected=1`);
    const failed = await t.app.request('/?connection_error=authorization_denied');
    expect(failed.headers.get('location')).toBe('/apps?error=authorization_denied');
  });

  it('shows a new feed URL once, in the answer to the form, and never again', async () => {
    const res = await t.app.request('/feeds', form(member, { name: 'Court dates', categories: 'calendar.events', scope: 'all' }));
    expect(res.status).toBe(200);
    const body = await res.text();
    const url = /id="feed-url" readonly="" value="([^"]+)"/.exec(body)?.[1];
    expect(url).toMatch(/\/ical\/[A-Za-z0-9_-]+\.ics$/);
    const token = /\/ical\/([^.]+)\.ics/.exec(url!)![1]!;
    const list = await (await t.app.request('/feeds', { headers: { cookie: member.cookie!, ...html } })).text();
    expect(list).toContain('Court dates');
    expect(list).not.toContain(token);
    const bad = await t.app.request('/feeds', form(member, { name: '', categories: 'calendar.events', scope: 'all' }));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('data-error-code="validation_failed"');
  });

  it('keeps the admin console to administrators', async () => {
    const res = await t.app.request('/admin', { headers: { cookie: member.cookie!, ...html } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('data-error-code="admin_required"');
    const ok = await t.app.request('/admin', { headers: { cookie: admin.cookie!, ...html } });
    expect(ok.status).toBe(200);
  });

  it('sends the addresses people try first to the pages', async () => {
    for (const [from, to] of [
      ['/connections', '/apps'],
      ['/settings', '/apps'],
      ['/transfers', '/shared'],
    ]) {
      const res = await t.app.request(from!, { headers: html });
      expect(res.status, from).toBe(302);
      expect(res.headers.get('location')).toBe(to);
    }
  });

  it('lets an administrator see what a revocation covers, refuses it unconfirmed, then revokes and links the receipt', async () => {
    const page = await t.app.request(`/admin/revoke?kind=user&userId=${org.member.id}`, { headers: { cookie: admin.cookie!, ...html } });
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toMatch(/This revokes 2 connections/);
    const before = await t.services.db.selectFrom('revocations').select('id').execute();
    const unconfirmed = await t.app.request('/admin/revoke', form(admin, { kind: 'user', userId: org.member.id, reason: 'left the firm' }));
    expect(unconfirmed.status).toBe(400);
    expect(await unconfirmed.text()).toContain('data-error-code="confirmation_required"');
    const foreign = await t.app.request(
      '/admin/revoke',
      form(admin, { kind: 'user', userId: '00000000-0000-4000-8000-000000000002', reason: 'x', confirm: 'yes' }),
    );
    expect(foreign.status).toBe(404);
    expect((await t.services.db.selectFrom('revocations').select('id').execute()).length).toBe(before.length);
    const done = await t.app.request('/admin/revoke', form(admin, { kind: 'user', userId: org.member.id, reason: 'left the firm', confirm: 'yes' }));
    expect(done.status).toBe(303);
    const receipt = done.headers.get('location')!;
    expect(receipt).toMatch(/^\/receipts\/[0-9a-f-]{36}$/);
    const live = await t.services.db.selectFrom('connections').select('status').where('user_id', '=', org.member.id).execute();
    expect(live.every((r) => r.status === 'revoked')).toBe(true);
    const shown = await t.app.request(receipt, { headers: { cookie: admin.cookie!, ...html } });
    expect(shown.status).toBe(200);
    const stranger = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    expect((await t.app.request(receipt, { headers: { cookie: stranger.cookie!, ...html } })).status).toBe(200);
  });

  it('gives an embedding backend a single-use connect link whose session only reaches the connect pages', async () => {
    const create = (body: unknown, key: string | null = org.apiKey) =>
      t.app.request('/v1/connect-sessions', {
        method: 'POST',
        headers: { ...(key ? bearer(key) : {}), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await create({ email: org.admin.email }, null)).status).toBe(401);
    const unknown = await create({ email: 'nobody@nowhere.example' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'user_not_found' } });
    const foreignReturn = await create({ email: org.admin.email, returnTo: 'https://evil.example/x' });
    expect(foreignReturn.status).toBe(400);
    expect(await foreignReturn.json()).toMatchObject({ error: { code: 'return_to_not_allowed' } });
    await t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({ connectReturnOrigins: ['https://app.example'] }) })
      .where('id', '=', org.organizationId)
      .execute();
    const ok = await create({ email: org.admin.email, returnTo: 'https://app.example/cases/1' });
    expect(ok.status).toBe(201);
    const { url, expiresAt } = (await ok.json()) as { url: string; expiresAt: string };
    expect(new Date(expiresAt).getTime() - Date.now()).toBeGreaterThan(14 * 60_000);
    const path = new URL(url).pathname;

    const opened = await t.app.request(path, { headers: html });
    expect(opened.status).toBe(303);
    expect(opened.headers.get('location')).toBe('/apps');
    const cookies = opened.headers.getSetCookie();
    expect(cookies.some((c) => c.startsWith('cb_session='))).toBe(false);
    const connect = cookies
      .filter((c) => c.startsWith('cb_connect'))
      .map((c) => c.split(';')[0]!)
      .join('; ');
    const again = await t.app.request(path, { headers: html });
    expect(again.status).toBe(410);
    expect(await again.text()).toContain('data-error-code="connect_link_invalid"');

    const headers = { cookie: connect, ...html };
    const apps = await t.app.request('/apps', { headers });
    expect(apps.status).toBe(200);
    const body = await apps.text();
    expect(body).toContain('href="https://app.example/cases/1"');
    expect(body).not.toContain('href="/admin"');
    for (const denied of ['/feeds', '/admin', '/admin/revoke']) {
      const res = await t.app.request(denied, { headers });
      expect(res.status, denied).toBe(403);
    }
    // The API does not accept it at all, even though the user is an administrator.
    expect((await t.app.request('/v1/me', { headers: { cookie: connect } })).status).toBe(401);
    expect((await t.app.request('/v1/admin/users', { headers: { cookie: connect } })).status).toBe(401);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await t.app.request('/apps/connect/google_calendar', { headers })).text())![1]!;
    const start = await t.app.request('/apps/connect/google_calendar', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ categories: 'calendar.events', scope: 'all', policyVersion: '2026-11-01', _csrf: csrf }).toString(),
    });
    expect(start.status).toBe(303);
    expect(start.headers.get('location')).toContain('/google/o/oauth2/v2/auth');
  });

  it('shows administrators the read-only queue dashboard and nobody else', async () => {
    const page = await t.app.request('/admin/queues', { headers: { cookie: admin.cookie!, ...html } });
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain('Casebridge queues');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // Its fonts link points at a third party, which the policy blocks (the UI falls back to system fonts).
    expect(page.headers.get('content-security-policy')).not.toMatch(/googleapis|https:/);
    const script = /src="(static\/js\/main[^"]+\.js)"/.exec(body)?.[1];
    expect(script).toBeTruthy();
    expect((await t.app.request(`/admin/queues/${script}`, { headers: { cookie: admin.cookie! } })).status).toBe(200);
    const api = await t.app.request('/admin/queues/api/queues?activeQueue=sync&page=1&jobsPerPage=10', { headers: { cookie: admin.cookie! } });
    expect(api.status).toBe(200);
    const queues = ((await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> }).queues;
    expect(queues.map((q) => q.name).sort()).toEqual(['import', 'maintenance', 'revoke', 'sync']);
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
    expect((await t.app.request('/admin/queues', { headers: { cookie: member.cookie!, ...html } })).status).toBe(403);
    expect((await t.app.request('/admin/queues/api/queues', { headers: {} })).status).toBe(302);
  });
});
