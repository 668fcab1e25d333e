import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { DEFAULT_ACCOUNTS, type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { saveSamlIdpConfig } from '../../src/auth/saml/idp-config.ts';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { issueSignInLink, lookUpSignInLink } from '../../src/auth/sign-in-links.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { browse, CookieJar, errorCode, formFields, location } from './helpers.ts';

/**
 * Sign-in links through the real Google flow (sandbox over HTTP, real Redis and database): bound to
 * one user's e-mail, one use, expiry enforced at the page and again at the callback.
 */
describe('sign-in links', () => {
  let sandbox: Sandbox;
  let t: TestServices;
  let firm: SeededOrg;
  let other: SeededOrg;
  /** Every log line of the service (level trace) and every token issued, to check none leaks. */
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const tokens: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, {
      port: 0,
      accounts: [
        ...DEFAULT_ACCOUNTS,
        { email: 'admin@link-firm.example', name: 'Ada Admin', sub: '400000000000000000001', hd: 'link-firm.example', emailVerified: true },
        { email: 'member@link-firm.example', name: 'Max Member', sub: '400000000000000000002', hd: 'link-firm.example', emailVerified: true },
        { email: 'admin@other-firm.example', name: 'Otto Other', sub: '400000000000000000003', hd: 'other-firm.example', emailVerified: true },
      ],
    });
    t = await createTestServices({ SANDBOX_URL: sandbox.url }, { logger: createLogger({ level: 'trace', destination: sink }) });
    firm = await seedOrg(t.services, 'Link Firm');
    other = await seedOrg(t.services, 'Other Firm');
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
    await sandbox?.close();
  });

  const link = async (userId: string, ttlHours = 24) => {
    const issued = await issueSignInLink(t.services.db, { userId, ttlHours, createdBy: 'test' });
    tokens.push(issued.token);
    return { ...issued, path: `/auth/link/${issued.token}` };
  };

  /** Opens the link's Google button and signs in at the sandbox as `email`; returns the callback's answer. */
  const signInThrough = async (path: string, email: string, jar = new CookieJar(), headers: Record<string, string> = {}) => {
    const authorize = location(await browse(t, jar, `${path}/google`));
    authorize.searchParams.set('login_hint', email); // the person may pick another account at Google
    const callback = location(await fetch(authorize, { redirect: 'manual' }));
    return { res: await browse(t, jar, callback.toString(), { headers }), jar };
  };

  it('refuses a sign-in with another e-mail and leaves the link usable for the right person', async () => {
    const l = await link(firm.admin.id);
    const wrong = await signInThrough(l.path, 'member@link-firm.example', new CookieJar(), { accept: 'application/json' });
    expect(wrong.res.status).toBe(403);
    expect(await errorCode(wrong.res)).toBe('sign_in_link_email_mismatch');
    expect(wrong.jar.get(SESSION_COOKIE)).toBeUndefined();
    expect(await t.services.db.selectFrom('identities').select('id').where('subject', '=', '400000000000000000002').execute()).toEqual([]);
    expect((await lookUpSignInLink(t.services.db, l.token)).kind).toBe('usable');

    // A browser is sent to the sign-in page with the reason.
    const browser = await signInThrough(l.path, 'member@link-firm.example', new CookieJar(), { accept: 'text/html' });
    expect(location(browser.res).search).toContain('error=sign_in_link_email_mismatch');

    const right = await signInThrough(l.path, 'admin@link-firm.example');
    expect(right.res.status).toBe(303);
    expect((await lookUpSignInLink(t.services.db, l.token)).kind).toBe('used');
  });

  it('answers unknown and malformed links with 404 and an expired one with 410, before any redirect', async () => {
    for (const path of ['/auth/link/cbl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '/auth/link/nonsense', `/auth/link/cbl_${'A'.repeat(300)}`]) {
      const res = await browse(t, new CookieJar(), path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).toContain('sign_in_link_unknown');
    }
    const expired = await issueSignInLink(t.services.db, {
      userId: other.member.id,
      ttlHours: 1,
      createdBy: 'test',
      now: new Date(Date.now() - 2 * 3_600_000),
    });
    for (const suffix of ['', '/google']) {
      const res = await browse(t, new CookieJar(), `/auth/link/${expired.token}${suffix}`);
      expect(res.status).toBe(410);
      expect(await res.text()).toContain('sign_in_link_expired');
    }
  });

  it('enforces expiry again at the callback: a link that expires during the sign-in is not used', async () => {
    const l = await link(other.admin.id);
    const jar = new CookieJar();
    const authorize = location(await browse(t, jar, `${l.path}/google`));
    await t.services.db
      .updateTable('sign_in_links')
      .set({ expires_at: new Date(Date.now() - 1000), created_at: new Date(Date.now() - 2000) })
      .where('id', '=', l.id)
      .execute();
    const callback = location(await fetch(authorize, { redirect: 'manual' }));
    const res = await browse(t, jar, callback.toString(), { headers: { accept: 'application/json' } });
    expect(res.status).toBe(410);
    expect(await errorCode(res)).toBe('sign_in_link_expired');
    expect(jar.get(SESSION_COOKIE)).toBeUndefined();
  });

  it('lets exactly one of two sign-ins started from the same link use it', async () => {
    const l = await link(other.admin.id);
    const jars = [new CookieJar(), new CookieJar()];
    const callbacks: URL[] = [];
    for (const jar of jars) {
      const authorize = location(await browse(t, jar, `${l.path}/google`));
      authorize.searchParams.set('login_hint', 'admin@other-firm.example');
      callbacks.push(location(await fetch(authorize, { redirect: 'manual' })));
    }
    const results = await Promise.all(jars.map((jar, i) => browse(t, jar, callbacks[i]!.toString(), { headers: { accept: 'application/json' } })));
    expect(results.map((r) => r.status).sort()).toEqual([303, 410]);
    const refused = results.find((r) => r.status === 410)!;
    expect(await errorCode(refused)).toBe('sign_in_link_used');
    const identities = await t.services.db.selectFrom('identities').select('user_id').where('subject', '=', '400000000000000000003').execute();
    expect(identities).toEqual([{ user_id: other.admin.id }]);
  });

  it('refuses to link an account that already belongs to another user of the same organization', async () => {
    // admin@other-firm.example's Google account is other.admin's now (previous test); a link for
    // another user of that firm with that e-mail (other.admin's address changed since) cannot take it.
    await t.services.db.updateTable('users').set({ email: 'renamed@other-firm.example' }).where('id', '=', other.admin.id).execute();
    await t.services.db.updateTable('users').set({ email: 'admin@other-firm.example' }).where('id', '=', other.member.id).execute();
    try {
      const l = await link(other.member.id);
      const res = await signInThrough(l.path, 'admin@other-firm.example', new CookieJar(), { accept: 'application/json' });
      expect(res.res.status).toBe(409);
      expect(await errorCode(res.res)).toBe('identity_linked_elsewhere');
      expect((await lookUpSignInLink(t.services.db, l.token)).kind).toBe('usable');
      const identities = await t.services.db.selectFrom('identities').select('user_id').where('subject', '=', '400000000000000000003').execute();
      expect(identities).toEqual([{ user_id: other.admin.id }]);
    } finally {
      await t.services.db.updateTable('users').set({ email: other.member.email }).where('id', '=', other.member.id).execute();
      await t.services.db.updateTable('users').set({ email: other.admin.email }).where('id', '=', other.admin.id).execute();
    }
  });

  it("links the same Google account in another organization as that organization's own identity", async () => {
    // Identities are per organization (a lawyer may belong to two firms); the other firm's link is untouched.
    await t.services.db.updateTable('users').set({ email: 'admin@other-firm.example' }).where('id', '=', firm.admin.id).execute();
    try {
      const l = await link(firm.admin.id);
      const res = await signInThrough(l.path, 'admin@other-firm.example', new CookieJar(), { accept: 'application/json' });
      expect(res.res.status).toBeLessThan(400);
      const identities = await t.services.db
        .selectFrom('identities')
        .select(['user_id', 'organization_id'])
        .where('subject', '=', '400000000000000000003')
        .orderBy('organization_id')
        .execute();
      expect(identities.map((i) => i.user_id).sort()).toEqual([firm.admin.id, other.admin.id].sort());
    } finally {
      await t.services.db.updateTable('users').set({ email: firm.admin.email }).where('id', '=', firm.admin.id).execute();
    }
  });

  it('refuses a Google account outside the Workspace domains the organization admits', async () => {
    await t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({ allowedGoogleDomains: ['elsewhere.example'] }) })
      .where('id', '=', firm.organizationId)
      .execute();
    try {
      const l = await link(firm.member.id);
      const res = await signInThrough(l.path, 'member@link-firm.example', new CookieJar(), { accept: 'application/json' });
      expect(res.res.status).toBe(403);
      expect(await errorCode(res.res)).toBe('oidc_domain_not_allowed');
    } finally {
      await t.services.db
        .updateTable('organizations')
        .set({ settings: JSON.stringify({}) })
        .where('id', '=', firm.organizationId)
        .execute();
    }
  });

  it("a new link for a user replaces their earlier unused one; a disabled user's link is refused", async () => {
    const first = await link(firm.member.id);
    const second = await link(firm.member.id);
    expect((await lookUpSignInLink(t.services.db, first.token)).kind).toBe('unknown');
    expect((await lookUpSignInLink(t.services.db, second.token)).kind).toBe('usable');
    await t.services.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', firm.member.id).execute();
    try {
      const res = await browse(t, new CookieJar(), second.path);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('user_disabled');
    } finally {
      await t.services.db.updateTable('users').set({ status: 'active' }).where('id', '=', firm.member.id).execute();
    }
  });

  it("works with the organization's SAML IdP too: the page offers it, the ACS links the NameID once", async () => {
    const samlFirm = await seedOrg(t.services, 'Saml Firm');
    const idp = oneLoginIdp(sandbox.state);
    await saveSamlIdpConfig(t.services.db, {
      organizationId: samlFirm.organizationId,
      entityId: idp.entityId('saml-firm'),
      ssoUrl: idp.ssoUrl('saml-firm'),
      sloUrl: null,
      certificates: [idp.certificatePem],
      allowIdpInitiated: false,
    });
    await sandbox.app.request('/_sandbox/accounts', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: samlFirm.admin.email, name: 'Sam Admin', sub: '500000000000000000001' }),
    });
    const l = await link(samlFirm.admin.id);
    const page = await (await browse(t, new CookieJar(), l.path)).text();
    expect(page).toContain(`href="${l.path}/saml"`);

    const signIn = async (jar: CookieJar) => {
      const idpUrl = location(await browse(t, jar, `${l.path}/saml`));
      idpUrl.searchParams.set('user', samlFirm.admin.email);
      const html = await (await fetch(idpUrl)).text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!.replaceAll('&amp;', '&');
      return browse(t, jar, action, { form: formFields(html), headers: { accept: 'application/json' } });
    };
    const jar = new CookieJar();
    const res = await signIn(jar);
    expect(res.status, await res.clone().text()).toBe(303);
    const me = (await (await browse(t, jar, '/v1/me')).json()) as { user: { id: string }; role: string };
    expect(me).toMatchObject({ user: { id: samlFirm.admin.id }, role: 'admin' });
    const identity = await t.services.db.selectFrom('identities').selectAll().where('user_id', '=', samlFirm.admin.id).executeTakeFirstOrThrow();
    expect(identity).toMatchObject({ provider: 'saml', issuer: idp.entityId('saml-firm'), subject: samlFirm.admin.email });
    expect((await lookUpSignInLink(t.services.db, l.token)).kind).toBe('used');
    expect((await browse(t, new CookieJar(), `${l.path}/saml`)).status).toBe(410);
  });

  it('no link token reaches the logs (at level trace) or the security events', async () => {
    expect(tokens.length).toBeGreaterThan(5);
    expect(lines.some((l) => l.includes('/auth/link/:token'))).toBe(true); // requests were logged, by route pattern
    const events = JSON.stringify(await t.services.db.selectFrom('security_events').selectAll().execute());
    for (const token of tokens) {
      expect(lines.filter((l) => l.includes(token))).toEqual([]);
      expect(events).not.toContain(token);
    }
  });
});
