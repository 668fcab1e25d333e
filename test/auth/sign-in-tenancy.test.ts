import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { type OneLoginIdp, oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { buildSamlResponse, encodeSamlPost } from '../../sandbox/onelogin/response.ts';
import { generateSigningMaterial } from '../../sandbox/onelogin/x509.ts';
import { DEFAULT_ACCOUNTS, type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { browse, CookieJar, errorCode, googleSignIn, samlSignIn, samlStart } from './helpers.ts';

/**
 * One firm must not reach another firm's users through sign-in: not by claiming their Google
 * Workspace domain, not by configuring their SAML IdP's entity id. Firm A (`firm-a.example`) is the
 * victim, firm B the attacker; both are ordinary organizations with an administrator.
 */
describe('sign-in across tenants', () => {
  const SUPER = `super-${'s'.repeat(40)}`;
  let sandbox: Sandbox;
  let t: TestServices;
  let idp: OneLoginIdp;
  let a: SeededOrg;
  let b: SeededOrg;
  const superAdmin = { authorization: `Bearer ${SUPER}` };
  const accounts = [
    { email: 'newhire@firm-a.example', name: 'Nina Newhire', sub: '300000000000000000001', hd: 'firm-a.example', emailVerified: true },
    { email: 'early@firm-a.example', name: 'Eli Early', sub: '300000000000000000002', hd: 'firm-a.example', emailVerified: true },
    { email: 'saml-hire@firm-a.example', name: 'Sam Hire', sub: '300000000000000000003', hd: 'firm-a.example', emailVerified: true },
  ];

  const adminOf = (org: SeededOrg) => signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
  const send = async (org: SeededOrg, method: string, path: string, body?: unknown) =>
    t.app.request(path, {
      method,
      headers: { ...(await adminOf(org)), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const setPolicy = (org: SeededOrg, policy: Record<string, unknown>) => send(org, 'PATCH', '/v1/admin/sign-in-policy', policy);
  const orgOfSession = async (jar: CookieJar) => ((await (await browse(t, jar, '/v1/me')).json()) as { organization: { id: string } }).organization.id;
  const usersWithEmail = (email: string) => t.services.db.selectFrom('users').select(['id', 'organization_id']).where('email', '=', email).execute();

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0, accounts: [...DEFAULT_ACCOUNTS, ...accounts] });
    idp = oneLoginIdp(sandbox.state);
    t = await createTestServices({ SANDBOX_URL: sandbox.url, SUPER_ADMIN_TOKEN: SUPER });
    a = await seedOrg(t.services, 'Firm A');
    b = await seedOrg(t.services, 'Firm B');
  });
  afterAll(async () => {
    await t?.cleanup();
    await sandbox?.close();
  });

  describe('Google Workspace domains', () => {
    it("firm B admitting A's domain provisions nobody: the claim stays pending until the super admin verifies it", async () => {
      const res = await setPolicy(b, { allowedGoogleDomains: ['firm-a.example'], jitProvisioning: true, linkByEmail: true });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { googleDomains: unknown }).googleDomains).toEqual([{ domain: 'firm-a.example', status: 'pending' }]);

      const jar = new CookieJar();
      const { res: signIn } = await googleSignIn(t, jar, { email: 'newhire@firm-a.example' });
      expect(signIn.status).toBe(403);
      expect(await errorCode(signIn)).toBe('account_not_provisioned');
      expect(jar.get(SESSION_COOKIE)).toBeUndefined();
      expect(await usersWithEmail('newhire@firm-a.example')).toEqual([]);
    });

    it('gives a domain to at most one organization (409 domain_claimed, case-insensitive); the super admin refuses or approves claims', async () => {
      const taken = await setPolicy(a, { allowedGoogleDomains: ['firm-a.example'] });
      expect(taken.status).toBe(409);
      expect(await errorCode(taken)).toBe('domain_claimed');
      // Nothing of the refused change was written.
      expect(
        ((await (await send(a, 'GET', '/v1/admin/sign-in-policy')).json()) as { policy: { allowedGoogleDomains: string[] } }).policy.allowedGoogleDomains,
      ).toEqual([]);

      expect((await t.app.request('/v1/super-admin/domains?status=pending')).status).toBe(401);
      expect((await t.app.request('/v1/super-admin/domains?status=pending', { headers: await adminOf(a) })).status).toBe(401);
      const pending = (await (await t.app.request('/v1/super-admin/domains?status=pending', { headers: superAdmin })).json()) as {
        items: Array<{ domain: string; organizationId: string; status: string }>;
      };
      expect(pending.items).toEqual([expect.objectContaining({ domain: 'firm-a.example', organizationId: b.organizationId, status: 'pending' })]);

      // The super admin checks ownership out of band, refuses B's claim and approves A's.
      expect((await t.app.request('/v1/super-admin/domains/firm-a.example', { method: 'DELETE', headers: superAdmin })).status).toBe(204);
      const bPolicy = (await (await send(b, 'GET', '/v1/admin/sign-in-policy')).json()) as { policy: { allowedGoogleDomains: string[] } };
      expect(bPolicy.policy.allowedGoogleDomains).toEqual([]);
      const claimed = await setPolicy(a, { allowedGoogleDomains: ['Firm-A.example'], jitProvisioning: true });
      expect(claimed.status).toBe(200);
      const approved = await t.app.request('/v1/super-admin/domains/firm-a.example/approve', { method: 'POST', headers: superAdmin });
      expect(approved.status).toBe(200);
      expect(((await approved.json()) as { domain: { organizationId: string; status: string } }).domain).toMatchObject({
        organizationId: a.organizationId,
        status: 'verified',
      });

      const again = await setPolicy(b, { allowedGoogleDomains: ['FIRM-A.EXAMPLE'] });
      expect(again.status).toBe(409);
      expect(await errorCode(again)).toBe('domain_claimed');
      expect((await t.app.request('/v1/super-admin/domains/nobody.example/approve', { method: 'POST', headers: superAdmin })).status).toBe(404);

      const audit = await t.services.db.selectFrom('audit_log').select(['action', 'organization_id']).where('action', 'like', 'google_domain.%').execute();
      expect(audit).toEqual(
        expect.arrayContaining([
          { action: 'google_domain.release', organization_id: b.organizationId },
          { action: 'google_domain.approve', organization_id: a.organizationId },
        ]),
      );
    });

    it("provisions A's new hire into A once A's claim is verified, with and without ?org=A", async () => {
      const jar = new CookieJar();
      const { res } = await googleSignIn(t, jar, { email: 'newhire@firm-a.example', org: a.organizationId });
      expect(res.status).toBe(303);
      expect(await orgOfSession(jar)).toBe(a.organizationId);
      const plain = new CookieJar();
      expect((await googleSignIn(t, plain, { email: 'newhire@firm-a.example' })).res.status).toBe(303);
      expect(await orgOfSession(plain)).toBe(a.organizationId);
      expect(await usersWithEmail('newhire@firm-a.example')).toEqual([expect.objectContaining({ organization_id: a.organizationId })]);
    });

    it('never lands ?org=A in B because of an identity B captured earlier', async () => {
      // As left by the old behaviour: A's employee provisioned into B through B's unverified claim.
      const captured = await t.services.db
        .insertInto('users')
        .values({ organization_id: b.organizationId, email: 'early@firm-a.example', name: 'Eli Early', role: 'member', picture_url: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await t.services.db
        .insertInto('identities')
        .values({
          organization_id: b.organizationId,
          user_id: captured.id,
          provider: 'google',
          issuer: `${sandbox.url}/google`,
          subject: '300000000000000000002',
          email: 'early@firm-a.example',
        })
        .execute();
      const jar = new CookieJar();
      const { res } = await googleSignIn(t, jar, { email: 'early@firm-a.example', org: a.organizationId });
      expect(res.status).toBe(303);
      expect(await orgOfSession(jar)).toBe(a.organizationId);
    });
  });

  describe('SAML identity providers', () => {
    const appA = 'firm-a-app';
    const acs = (org: SeededOrg) => `${t.config.PUBLIC_BASE_URL}/auth/saml/${org.organizationId}/acs`;
    const spEntity = (org: SeededOrg) => `${t.config.PUBLIC_BASE_URL}/auth/saml/${org.organizationId}/metadata`;
    const attacker = generateSigningMaterial('Firm B pretending to be A (sandbox)');

    beforeAll(async () => {
      const res = await send(a, 'PUT', '/v1/admin/saml', {
        entityId: idp.entityId(appA),
        ssoUrl: idp.ssoUrl(appA),
        certificates: [idp.certificatePem],
        jitProvisioning: true,
        linkByEmail: true,
      });
      expect(res.status).toBe(200);
    });

    it('refuses to configure an entity id another organization uses (409 idp_entity_id_in_use)', async () => {
      const res = await send(b, 'PUT', '/v1/admin/saml', {
        entityId: idp.entityId(appA),
        ssoUrl: 'https://idp.firm-b.example/sso',
        certificates: [attacker.certificatePem],
      });
      expect(res.status).toBe(409);
      expect(await errorCode(res)).toBe('idp_entity_id_in_use');
      expect(await t.services.db.selectFrom('saml_configs').select('organization_id').where('organization_id', '=', b.organizationId).execute()).toEqual([]);
    });

    it("cannot lock A's users out: B's assertion under A's entity id, signed with B's own certificate, binds nothing in A", async () => {
      // B's configuration as an older version let it be written: A's entity id, B's certificate.
      await t.services.db
        .insertInto('saml_configs')
        .values({
          organization_id: b.organizationId,
          entity_id: idp.entityId(appA),
          sso_url: 'https://idp.firm-b.example/sso',
          slo_url: null,
          certificates: JSON.stringify([attacker.certificatePem]),
          attribute_mapping: JSON.stringify({ email: 'User.email', firstName: 'User.FirstName', lastName: 'User.LastName' }),
          allow_idp_initiated: false,
        })
        .execute();
      await t.services.db
        .updateTable('organizations')
        .set({ settings: JSON.stringify({ jitProvisioning: true }) })
        .where('id', '=', b.organizationId)
        .execute();
      // B signs in "A's" new hire at its own ACS, before the hire ever signed in to A.
      const jar = new CookieJar();
      const { requestId, relayState } = await samlStart(t, jar, b.organizationId);
      const forged = buildSamlResponse(
        {
          issuer: idp.entityId(appA),
          acsUrl: acs(b),
          audience: spEntity(b),
          inResponseTo: requestId,
          nameId: 'saml-hire@firm-a.example',
          attributes: { 'User.email': 'saml-hire@firm-a.example' },
        },
        attacker,
      );
      const atB = await browse(t, jar, `/auth/saml/${b.organizationId}/acs`, { form: { SAMLResponse: encodeSamlPost(forged), RelayState: relayState } });
      expect(atB.status).toBe(303);

      // The hire's real sign-in at A, through A's IdP, still works and lands in A.
      const real = new CookieJar();
      const res = await samlSignIn(t, real, sandbox, a.organizationId, 'saml-hire@firm-a.example');
      expect(res.status, await res.clone().text()).toBe(303);
      expect(await orgOfSession(real)).toBe(a.organizationId);
      const identities = await t.services.db
        .selectFrom('identities')
        .select('organization_id')
        .where('subject', '=', 'saml-hire@firm-a.example')
        .orderBy('organization_id')
        .execute();
      expect(identities.map((i) => i.organization_id).sort()).toEqual([a.organizationId, b.organizationId].sort());
    });

    it('lets an admin unlink an identity: its sessions end, the unlink is audited, the next sign-in links afresh', async () => {
      const jar = new CookieJar();
      expect((await samlSignIn(t, jar, sandbox, a.organizationId, 'saml-hire@firm-a.example')).status).toBe(303);
      const users = (await (await send(a, 'GET', '/v1/admin/users')).json()) as {
        items: Array<{ id: string; email: string; identities: Array<{ id: string; provider: string; subject: string }> }>;
      };
      const hire = users.items.find((u) => u.email === 'saml-hire@firm-a.example')!;
      const identity = hire.identities.find((i) => i.provider === 'saml')!;
      expect(identity.subject).toBe('saml-hire@firm-a.example');
      const path = `/v1/admin/users/${hire.id}/identities/${identity.id}`;

      const member = await signInAs(t.services, { id: a.member.id, organizationId: a.organizationId, role: 'member' });
      expect((await t.app.request(path, { method: 'DELETE', headers: member })).status).toBe(403);
      expect((await send(b, 'DELETE', path)).status).toBe(404);
      expect((await send(a, 'DELETE', `/v1/admin/users/${a.admin.id}/identities/${identity.id}`)).status).toBe(404);

      const res = await send(a, 'DELETE', path);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { sessionsEnded: number }).sessionsEnded).toBeGreaterThanOrEqual(1);
      expect((await browse(t, jar, '/v1/me')).status).toBe(401);
      expect(await t.services.db.selectFrom('identities').select('id').where('id', '=', identity.id).execute()).toEqual([]);
      // The logins it made stay on record.
      expect((await t.services.db.selectFrom('login_records').select('id').where('user_id', '=', hire.id).execute()).length).toBeGreaterThan(0);
      const audit = await t.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'identity.unlink').execute();
      expect(audit).toEqual([expect.objectContaining({ organization_id: a.organizationId, target: `identity:${identity.id}` })]);
      const events = (await (await send(a, 'GET', '/v1/admin/security-events?kind=identity_unlinked')).json()) as {
        items: Array<{ userId: string; actorUserId: string }>;
      };
      expect(events.items).toEqual([expect.objectContaining({ userId: hire.id, actorUserId: a.admin.id })]);

      const again = new CookieJar();
      expect((await samlSignIn(t, again, sandbox, a.organizationId, 'saml-hire@firm-a.example')).status).toBe(303);
      const relinked = await t.services.db
        .selectFrom('identities')
        .select('user_id')
        .where('organization_id', '=', a.organizationId)
        .where('subject', '=', 'saml-hire@firm-a.example')
        .execute();
      expect(relinked).toEqual([{ user_id: hire.id }]);
    });
  });
});
