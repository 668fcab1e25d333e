import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSRF_HEADER, SESSION_COOKIE, SessionStore } from '../../src/auth/sessions.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { errorCode } from './helpers.ts';

describe('sessions, roles, organization scoping and the security event log', () => {
  let t: TestServices;
  let firm: SeededOrg;
  let rival: SeededOrg;
  const as = (org: SeededOrg, who: 'admin' | 'member') => signInAs(t.services, { id: org[who].id, organizationId: org.organizationId, role: who });
  const json = (headers: Record<string, string>, method: string, body?: unknown) => ({
    method,
    headers: { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

  beforeAll(async () => {
    t = await createTestServices();
    firm = await seedOrg(t.services, 'Hartmann Law');
    rival = await seedOrg(t.services, 'Rival Firm');
  });
  afterAll(async () => t?.cleanup());

  it('answers /v1/me with the user, organization, role and CSRF token', async () => {
    const headers = await as(firm, 'member');
    const res = await t.app.request('/v1/me', { headers: { cookie: headers.cookie! } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      user: { id: firm.member.id, email: firm.member.email },
      organization: { id: firm.organizationId, name: 'Hartmann Law' },
      role: 'member',
      csrfToken: headers[CSRF_HEADER],
    });
  });

  it("refuses a state-changing request without the session's CSRF token", async () => {
    const headers = await as(firm, 'admin');
    const noToken = await t.app.request(`/v1/admin/users/${firm.member.id}`, json({ cookie: headers.cookie! }, 'PATCH', { role: 'admin' }));
    expect(noToken.status).toBe(403);
    expect(await errorCode(noToken)).toBe('csrf_token_invalid');
    const wrongToken = await t.app.request(
      `/v1/admin/users/${firm.member.id}`,
      json({ cookie: headers.cookie!, [CSRF_HEADER]: 'x'.repeat(32) }, 'PATCH', { role: 'admin' }),
    );
    expect(await errorCode(wrongToken)).toBe('csrf_token_invalid');
    const logout = await t.app.request('/auth/logout', { method: 'POST', headers: { cookie: headers.cookie! } });
    expect(logout.status).toBe(403);
    const user = await t.services.db.selectFrom('users').select('role').where('id', '=', firm.member.id).executeTakeFirstOrThrow();
    expect(user.role).toBe('member');
  });

  it('refuses a member on every admin route', async () => {
    const member = await as(firm, 'member');
    for (const [method, path, body] of [
      ['GET', '/v1/admin/users', undefined],
      ['PATCH', `/v1/admin/users/${firm.admin.id}`, { role: 'member' }],
      ['GET', `/v1/admin/users/${firm.admin.id}/sessions`, undefined],
      ['DELETE', `/v1/admin/users/${firm.admin.id}/sessions`, undefined],
      ['GET', '/v1/admin/security-events', undefined],
      ['GET', '/v1/admin/saml', undefined],
      ['GET', '/v1/admin/sign-in-policy', undefined],
    ] as const) {
      const res = await t.app.request(path, json(member, method, body));
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await errorCode(res)).toBe('admin_required');
    }
  });

  it("answers 404 for another organization's users, and leaves them untouched", async () => {
    const admin = await as(firm, 'admin');
    const rivalSession = await as(rival, 'member');
    for (const [method, path, body] of [
      ['GET', `/v1/admin/users/${rival.member.id}/sessions`, undefined],
      ['DELETE', `/v1/admin/users/${rival.member.id}/sessions`, undefined],
      ['PATCH', `/v1/admin/users/${rival.member.id}`, { status: 'disabled' }],
    ] as const) {
      const res = await t.app.request(path, json(admin, method, body));
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const users = (await (await t.app.request('/v1/admin/users', { headers: admin })).json()) as { items: Array<{ id: string }>; nextCursor: null };
    expect(users.items.map((u) => u.id).sort()).toEqual([firm.admin.id, firm.member.id].sort());
    expect((await t.app.request('/v1/me', { headers: { cookie: rivalSession.cookie! } })).status).toBe(200);
    const events = (await (await t.app.request('/v1/admin/security-events', { headers: admin })).json()) as { items: Array<{ userId: string | null }> };
    expect(events.items.some((e) => e.userId === rival.member.id)).toBe(false);
  });

  it("lets an admin list and end a user's sessions, which stop working at once", async () => {
    const admin = await as(firm, 'admin');
    const one = await as(firm, 'member');
    const two = await as(firm, 'member');
    const list = (await (await t.app.request(`/v1/admin/users/${firm.member.id}/sessions`, { headers: admin })).json()) as {
      items: Array<{ handle: string; current: boolean }>;
    };
    expect(list.items.length).toBeGreaterThanOrEqual(2);
    const oneHandle = t.services.sessions.handleOf(one.cookie!.split('=')[1]!);
    expect(list.items.map((s) => s.handle)).toContain(oneHandle);
    const endOne = await t.app.request(`/v1/admin/users/${firm.member.id}/sessions/${oneHandle}`, json(admin, 'DELETE'));
    expect(endOne.status).toBe(200);
    expect((await t.app.request('/v1/me', { headers: { cookie: one.cookie! } })).status).toBe(401);
    expect((await t.app.request('/v1/me', { headers: { cookie: two.cookie! } })).status).toBe(200);
    expect((await t.app.request(`/v1/admin/users/${firm.member.id}/sessions/${oneHandle}`, json(admin, 'DELETE'))).status).toBe(404);
    const endAll = await t.app.request(`/v1/admin/users/${firm.member.id}/sessions`, json(admin, 'DELETE'));
    expect(((await endAll.json()) as { sessionsEnded: number }).sessionsEnded).toBeGreaterThanOrEqual(1);
    expect((await t.app.request('/v1/me', { headers: { cookie: two.cookie! } })).status).toBe(401);
    const events = await t.services.db
      .selectFrom('security_events')
      .selectAll()
      .where('kind', '=', 'session_ended_by_admin')
      .where('user_id', '=', firm.member.id)
      .execute();
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.actor_user_id === firm.admin.id)).toBe(true);
  });

  it('applies a demotion or a disable at once, and keeps one active administrator', async () => {
    const org = await seedOrg(t.services, 'Demotion Firm');
    const admin = await as(org, 'admin');
    const promote = await t.app.request(`/v1/admin/users/${org.member.id}`, json(admin, 'PATCH', { role: 'admin' }));
    expect(promote.status).toBe(200);
    const second = await as(org, 'member'); // now an admin per the database
    expect((await t.app.request('/v1/admin/users', { headers: second })).status).toBe(200);
    expect((await t.app.request(`/v1/admin/users/${org.member.id}`, json(admin, 'PATCH', { role: 'member' }))).status).toBe(200);
    expect((await t.app.request('/v1/admin/users', { headers: second })).status).toBe(403); // same session, demoted

    const last = await t.app.request(`/v1/admin/users/${org.admin.id}`, json(admin, 'PATCH', { role: 'member' }));
    expect(last.status).toBe(409);
    expect(await errorCode(last)).toBe('last_admin');

    const disable = await t.app.request(`/v1/admin/users/${org.member.id}`, json(admin, 'PATCH', { status: 'disabled' }));
    expect(((await disable.json()) as { sessionsEnded: number }).sessionsEnded).toBeGreaterThanOrEqual(1);
    const res = await t.app.request('/v1/me', { headers: { cookie: second.cookie! } });
    expect(res.status).toBe(401);
    const changes = await t.services.db
      .selectFrom('security_events')
      .selectAll()
      .where('kind', '=', 'user_updated')
      .where('user_id', '=', org.member.id)
      .execute();
    expect(changes).toHaveLength(3);
  });

  it('signs out with POST /auth/logout and records it', async () => {
    const headers = await as(firm, 'member');
    const res = await t.app.request('/auth/logout', { method: 'POST', headers });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ loggedOut: true, redirectTo: null });
    expect(res.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=;`))).toBe(true);
    expect((await t.app.request('/v1/me', { headers: { cookie: headers.cookie! } })).status).toBe(401);
    const form = await as(firm, 'member');
    const viaForm = await t.app.request('/auth/logout', {
      method: 'POST',
      headers: { cookie: form.cookie!, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrfToken: form[CSRF_HEADER]! }).toString(),
    });
    expect(viaForm.status).toBe(303);
    expect(viaForm.headers.get('location')).toBe('/login?loggedOut=1');
    const logouts = await t.services.db.selectFrom('security_events').select('id').where('kind', '=', 'logout').where('user_id', '=', firm.member.id).execute();
    expect(logouts).toHaveLength(2);
  });

  it('expires sessions after the idle timeout and after the absolute timeout', async () => {
    const store = new SessionStore(t.services.redis, t.config.REDIS_PREFIX, { idleSeconds: 1, absoluteSeconds: 3600 });
    const idle = await store.create({ userId: firm.member.id, organizationId: firm.organizationId, role: 'member', method: 'test' });
    expect(await store.touch(idle.id)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1200));
    expect(await store.touch(idle.id)).toBeNull();

    const absolute = new SessionStore(t.services.redis, t.config.REDIS_PREFIX, { idleSeconds: 3600, absoluteSeconds: 1 });
    const s = await absolute.create({ userId: firm.member.id, organizationId: firm.organizationId, role: 'member', method: 'test' });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await absolute.touch(s.id)).toBeNull();
  });

  it('lets admins read the security log with filters and pages', async () => {
    const admin = await as(firm, 'admin');
    const page1 = (await (await t.app.request('/v1/admin/security-events?limit=2', { headers: admin })).json()) as {
      items: Array<{ id: string; kind: string }>;
      nextCursor: string | null;
    };
    expect(page1.items).toHaveLength(2);
    expect(page1.nextCursor).toBeTruthy();
    const page2 = (await (await t.app.request(`/v1/admin/security-events?limit=2&cursor=${page1.nextCursor}`, { headers: admin })).json()) as {
      items: Array<{ id: string }>;
    };
    expect(page2.items.map((e) => e.id)).not.toContain(page1.items[0]!.id);
    const logouts = (await (await t.app.request('/v1/admin/security-events?kind=logout', { headers: admin })).json()) as { items: Array<{ kind: string }> };
    expect(logouts.items.length).toBeGreaterThan(0);
    expect(logouts.items.every((e) => e.kind === 'logout')).toBe(true);
    const bad = await t.app.request('/v1/admin/security-events?cursor=nonsense', { headers: admin });
    expect(await errorCode(bad)).toBe('invalid_cursor');
  });

  it('keeps the sign-in policy per organization and merges changes', async () => {
    const admin = await as(firm, 'admin');
    const res = await t.app.request(
      '/v1/admin/sign-in-policy',
      json(admin, 'PATCH', { allowedGoogleDomains: ['Hartmann-Law.example'], jitProvisioning: true }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      policy: { allowedGoogleDomains: ['hartmann-law.example'], jitProvisioning: true, defaultRole: 'member', linkByEmail: false },
      googleDomains: [{ domain: 'hartmann-law.example', status: 'pending' }],
    });
    const bad = await t.app.request('/v1/admin/sign-in-policy', json(admin, 'PATCH', { allowedGoogleDomains: ['not a domain'] }));
    expect(bad.status).toBe(400);
    const rivalAdmin = await as(rival, 'admin');
    const theirs = (await (await t.app.request('/v1/admin/sign-in-policy', { headers: rivalAdmin })).json()) as { policy: { jitProvisioning: boolean } };
    expect(theirs.policy.jitProvisioning).toBe(false);
  });

  it('serves the sign-in page and the home page of the signed-in user', async () => {
    const login = await t.app.request(`/login?org=${firm.organizationId}&returnTo=/cases`);
    const html = await login.text();
    expect(html).toContain('Sign in with Google');
    expect(html).toContain(`/auth/google/start?returnTo=%2Fcases&amp;org=${firm.organizationId}`);
    expect(html).not.toContain('Sign in with OneLogin'); // no SAML configured for this firm
    expect(login.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect((await t.app.request('/')).headers.get('location')).toBe('/login');
    const headers = await as(firm, 'admin');
    const home = await (await t.app.request('/', { headers: { cookie: headers.cookie! } })).text();
    expect(home).toContain(firm.admin.email);
    expect(home).toContain('Hartmann Law');
  });
});
