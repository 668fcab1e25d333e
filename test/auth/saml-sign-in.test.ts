import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { applyXsw, stripSignature, withExtraRoot, XSW_VARIANTS } from '../../sandbox/onelogin/attacks.ts';
import { type OneLoginIdp, oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { encodeSamlPost, type SamlResponseSpec } from '../../sandbox/onelogin/response.ts';
import { generateSigningMaterial } from '../../sandbox/onelogin/x509.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { browse, CookieJar, errorCode, eventsWithReason, location, samlSignIn, samlStart } from './helpers.ts';

void bearer;

describe('OneLogin SAML sign-in through the sandbox', () => {
  let sandbox: Sandbox;
  let t: TestServices;
  let idp: OneLoginIdp;
  let firm: SeededOrg; // SP-initiated only (the default)
  let idpInitiatedFirm: SeededOrg; // also accepts IdP-initiated logins
  const acs = (org: SeededOrg) => `${t.config.PUBLIC_BASE_URL}/auth/saml/${org.organizationId}/acs`;
  const spEntity = (org: SeededOrg) => `${t.config.PUBLIC_BASE_URL}/auth/saml/${org.organizationId}/metadata`;

  async function configure(org: SeededOrg, appId: string, extra: Record<string, unknown> = {}) {
    const headers = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const res = await t.app.request('/v1/admin/saml', {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        entityId: idp.entityId(appId),
        ssoUrl: idp.ssoUrl(appId),
        sloUrl: idp.sloUrl(appId),
        certificates: [idp.certificatePem],
        jitProvisioning: true,
        linkByEmail: true,
        ...extra,
      }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }

  /** A response for `org` answering a fresh SP-initiated request from `jar`, with overrides. */
  async function crafted(org: SeededOrg, jar: CookieJar, spec: Partial<SamlResponseSpec> = {}, signing?: { signResponse?: boolean; signAssertion?: boolean }) {
    const { requestId, relayState } = await samlStart(t, jar, org.organizationId);
    const xml = idp.buildResponse(
      {
        issuer: idp.entityId(org === firm ? 'firm-app' : 'idp-app'),
        acsUrl: acs(org),
        audience: spEntity(org),
        inResponseTo: requestId,
        nameId: 'alice@hartmann-law.example',
        attributes: { 'User.email': 'alice@hartmann-law.example', 'User.FirstName': 'Alice', 'User.LastName': 'Hartmann' },
        ...spec,
      },
      signing,
    );
    return { xml, relayState, requestId };
  }

  const post = (org: SeededOrg, jar: CookieJar, xml: string, relayState?: string) =>
    browse(t, jar, `/auth/saml/${org.organizationId}/acs`, { form: { SAMLResponse: encodeSamlPost(xml), ...(relayState ? { RelayState: relayState } : {}) } });

  async function expectRejected(res: Response, jar: CookieJar, code: string) {
    expect([400, 401, 403]).toContain(res.status);
    expect(await errorCode(res)).toBe(code);
    expect(jar.get(SESSION_COOKIE)).toBeUndefined();
    const events = await eventsWithReason(t.services, code);
    expect(events.length).toBeGreaterThan(0);
    expect(events[0]).toMatchObject({ kind: 'login', outcome: 'failure', method: 'saml' });
  }

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
    idp = oneLoginIdp(sandbox.state);
    t = await createTestServices({ SANDBOX_URL: sandbox.url });
    firm = await seedOrg(t.services, 'Hartmann Law');
    idpInitiatedFirm = await seedOrg(t.services, 'Keller Partners');
    await configure(firm, 'firm-app');
    await configure(idpInitiatedFirm, 'idp-app', { allowIdpInitiated: true });
  });
  afterAll(async () => {
    await t?.cleanup();
    await sandbox?.close();
  });

  it('serves SP metadata with the entity id, ACS and SLO of the organization', async () => {
    const xml = await (await t.app.request(`/auth/saml/${firm.organizationId}/metadata`)).text();
    expect(xml).toContain(`entityID="${spEntity(firm)}"`);
    expect(xml).toContain(`Location="${acs(firm)}"`);
    expect(xml).toContain(`/auth/saml/${firm.organizationId}/slo`);
    expect(xml).toContain('WantAssertionsSigned="true"');
  });

  it('signs in end to end (SP-initiated), provisioning the user and recording the attributes received', async () => {
    const jar = new CookieJar();
    const res = await samlSignIn(t, jar, sandbox, firm.organizationId, 'alice@hartmann-law.example', '/cases');
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get('location')).toBe('/cases');
    const me = (await (await browse(t, jar, '/v1/me')).json()) as {
      user: { email: string; name: string };
      organization: { id: string };
      session: { method: string };
    };
    expect(me).toMatchObject({
      user: { email: 'alice@hartmann-law.example', name: 'Alice Hartmann' },
      organization: { id: firm.organizationId },
      session: { method: 'saml' },
    });
    const identity = await t.services.db
      .selectFrom('identities')
      .selectAll()
      .where('provider', '=', 'saml')
      .where('subject', '=', 'alice@hartmann-law.example')
      .executeTakeFirstOrThrow();
    expect(identity.issuer).toBe(idp.entityId('firm-app'));
    const record = await t.services.db.selectFrom('login_records').selectAll().where('identity_id', '=', identity.id).executeTakeFirstOrThrow();
    expect(record.received_attributes).toEqual(['NameID', 'User.FirstName', 'User.LastName', 'User.email', 'memberOf']);
    expect(record.kept).toEqual({ email: 'alice@hartmann-law.example', name: 'Alice Hartmann', picture: null });
  });

  it('returns only to same-origin paths after a SAML sign-in (dot segments resolved before deciding)', async () => {
    for (const [returnTo, expected] of [
      ['/..//evil.example/phish', '/'],
      ['/.//evil.example', '/'],
      ['/a/..//evil.example', '/'],
      ['/%2e%2e//evil.example', '/'],
      ['/\\evil.example', '/'],
      ['/cases/7', '/cases/7'],
    ] as const) {
      const res = await samlSignIn(t, new CookieJar(), sandbox, firm.organizationId, 'alice@hartmann-law.example', returnTo);
      expect(res.status, returnTo).toBe(303);
      expect(res.headers.get('location'), returnTo).toBe(expected);
      expect(new URL(res.headers.get('location')!, 'https://app.example').origin).toBe('https://app.example');
    }
  });

  it('links an existing user by e-mail (SAML admin keeps the admin role)', async () => {
    const jar = new CookieJar();
    await fetch(`${sandbox.url}/_sandbox/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: firm.admin.email, name: 'Ada Admin', sub: 'ada' }),
    });
    const res = await samlSignIn(t, jar, sandbox, firm.organizationId, firm.admin.email);
    expect(res.status).toBe(303);
    const me = (await (await browse(t, jar, '/v1/me')).json()) as { user: { id: string }; role: string };
    expect(me).toEqual(expect.objectContaining({ user: expect.objectContaining({ id: firm.admin.id }), role: 'admin' }));
  });

  for (const variant of XSW_VARIANTS) {
    it(`rejects signature wrapping ${variant} and never signs in as the injected user`, async () => {
      const jar = new CookieJar();
      const { xml, relayState } = await crafted(firm, jar);
      const res = await post(firm, jar, applyXsw(xml, variant, firm.admin.email), relayState);
      await expectRejected(res, jar, 'saml_signature_invalid');
    });
  }

  it('rejects a response whose own signature was stripped', async () => {
    const jar = new CookieJar();
    const { xml, relayState } = await crafted(firm, jar);
    await expectRejected(await post(firm, jar, stripSignature(xml, 'Response'), relayState), jar, 'saml_response_unsigned');
  });

  it('rejects a signed response carrying an unsigned assertion', async () => {
    const jar = new CookieJar();
    const { xml, relayState } = await crafted(firm, jar, {}, { signAssertion: false });
    await expectRejected(await post(firm, jar, xml, relayState), jar, 'saml_assertion_unsigned');
  });

  it('rejects a response signed by an attacker whose certificate is in KeyInfo', async () => {
    const jar = new CookieJar();
    const { requestId, relayState } = await samlStart(t, jar, firm.organizationId);
    const attacker = generateSigningMaterial('OneLogin Account (sandbox)');
    const { buildSamlResponse } = await import('../../sandbox/onelogin/response.ts');
    const xml = buildSamlResponse(
      { issuer: idp.entityId('firm-app'), acsUrl: acs(firm), audience: spEntity(firm), inResponseTo: requestId, nameId: firm.admin.email },
      attacker,
    );
    expect(xml).toContain(attacker.certificatePem.split('\n')[1]!.slice(0, 40));
    await expectRejected(await post(firm, jar, xml, relayState), jar, 'saml_signature_invalid');
  });

  it('rejects a document with several root elements', async () => {
    const jar = new CookieJar();
    const { xml, relayState } = await crafted(firm, jar);
    await expectRejected(await post(firm, jar, withExtraRoot(xml, firm.admin.email, 'before'), relayState), jar, 'saml_response_malformed');
    const jar2 = new CookieJar();
    const second = await crafted(firm, jar2);
    await expectRejected(await post(firm, jar2, withExtraRoot(second.xml, firm.admin.email, 'after'), second.relayState), jar2, 'saml_response_malformed');
  });

  it('rejects a comment injected into the NameID and does not sign in as the truncated user', async () => {
    // The IdP vouched for "admin@hartmann-law.example.evil.example"; the comment makes a naive
    // reader see the firm's administrator. The signature still verifies (c14n drops comments).
    const jar = new CookieJar();
    const { xml, relayState } = await crafted(firm, jar, {
      nameId: `${firm.admin.email}.evil.example`,
      nameIdXml: `${firm.admin.email}<!---->.evil.example`,
      attributes: { 'User.email': `${firm.admin.email}.evil.example` },
    });
    expect(xml).toContain('<!---->');
    const res = await post(firm, jar, xml, relayState);
    await expectRejected(res, jar, 'saml_response_malformed');
    const adminLogins = await t.services.db
      .selectFrom('security_events')
      .select('id')
      .where('user_id', '=', firm.admin.id)
      .where('outcome', '=', 'success')
      .where('method', '=', 'saml')
      .execute();
    expect(adminLogins).toHaveLength(1); // only the legitimate login of the linking test
  });

  it('rejects the replay of a consumed response (SP- and IdP-initiated)', async () => {
    const jar = new CookieJar();
    const { xml, relayState } = await crafted(firm, jar);
    expect((await post(firm, jar, xml, relayState)).status).toBe(303);
    const attacker = new CookieJar();
    await expectRejected(await post(firm, attacker, xml, relayState), attacker, 'saml_replay');

    const idpJar = new CookieJar();
    const unsolicited = idp.buildResponse({
      issuer: idp.entityId('idp-app'),
      acsUrl: acs(idpInitiatedFirm),
      audience: spEntity(idpInitiatedFirm),
      nameId: 'bob@hartmann-law.example',
      attributes: { 'User.email': 'bob@hartmann-law.example' },
    });
    expect((await post(idpInitiatedFirm, idpJar, unsolicited)).status).toBe(303);
    const again = new CookieJar();
    await expectRejected(await post(idpInitiatedFirm, again, unsolicited), again, 'saml_replay');
  });

  it('rejects expired and not-yet-valid assertions', async () => {
    const past = new Date(Date.now() - 60 * 60_000);
    const jar = new CookieJar();
    const expired = await crafted(firm, jar, {
      issueInstant: past,
      notBefore: new Date(past.getTime() - 60_000),
      notOnOrAfter: new Date(past.getTime() + 3 * 60_000),
    });
    await expectRejected(await post(firm, jar, expired.xml, expired.relayState), jar, 'saml_assertion_expired');
    const jar2 = new CookieJar();
    const future = await crafted(firm, jar2, { notBefore: new Date(Date.now() + 10 * 60_000), notOnOrAfter: new Date(Date.now() + 20 * 60_000) });
    await expectRejected(await post(firm, jar2, future.xml, future.relayState), jar2, 'saml_assertion_not_yet_valid');
  });

  it('rejects a wrong audience, a wrong issuer (same signing key, another app), a wrong destination and a wrong recipient', async () => {
    const cases: Array<[Partial<SamlResponseSpec>, string]> = [
      [{ audience: 'https://other-sp.example/metadata' }, 'saml_audience_mismatch'],
      [{ issuer: idp.entityId('another-app') }, 'saml_issuer_mismatch'],
      [{ destination: 'https://other-sp.example/acs' }, 'saml_destination_mismatch'],
      [{ recipient: 'https://other-sp.example/acs' }, 'saml_recipient_mismatch'],
    ];
    for (const [spec, code] of cases) {
      const jar = new CookieJar();
      const { xml, relayState } = await crafted(firm, jar, spec);
      await expectRejected(await post(firm, jar, xml, relayState), jar, code);
    }
  });

  it('rejects a response to a request this service never issued', async () => {
    const jar = new CookieJar();
    const { xml, relayState } = await crafted(firm, jar, { inResponseTo: '_never-issued-request-id' });
    await expectRejected(await post(firm, jar, xml, relayState), jar, 'saml_in_response_to_invalid');
  });

  it('rejects an IdP-initiated response when the organization has not allowed them', async () => {
    const jar = new CookieJar();
    const xml = idp.buildResponse({ issuer: idp.entityId('firm-app'), acsUrl: acs(firm), audience: spEntity(firm), nameId: 'alice@hartmann-law.example' });
    await expectRejected(await post(firm, jar, xml), jar, 'saml_idp_initiated_not_allowed');
  });

  it('rejects a valid response posted in a browser that did not start the sign-in (login CSRF)', async () => {
    const attackerJar = new CookieJar();
    const { xml, relayState } = await crafted(firm, attackerJar);
    const victim = new CookieJar();
    await expectRejected(await post(firm, victim, xml, relayState), victim, 'saml_relay_state_mismatch');
  });

  it('signs out with single logout: local session ended, LogoutRequest to the IdP, LogoutResponse back', async () => {
    await fetch(`${sandbox.url}/_sandbox/onelogin/apps/firm-app`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sloUrl: `${t.config.PUBLIC_BASE_URL}/auth/saml/${firm.organizationId}/slo` }),
    });
    const jar = new CookieJar();
    expect((await samlSignIn(t, jar, sandbox, firm.organizationId, 'alice@hartmann-law.example')).status).toBe(303);
    const me = (await (await browse(t, jar, '/v1/me')).json()) as { csrfToken: string };
    expect((await browse(t, jar, `/auth/saml/${firm.organizationId}/logout?csrf=wrong`)).status).toBe(403);
    const logout = await browse(t, jar, `/auth/saml/${firm.organizationId}/logout?csrf=${encodeURIComponent(me.csrfToken)}`);
    const atIdp = location(logout);
    expect(atIdp.pathname).toBe('/onelogin/trust/saml2/http-redirect/slo/firm-app');
    expect((await browse(t, jar, '/v1/me')).status).toBe(401);
    const back = location(await fetch(atIdp, { redirect: 'manual' }));
    expect(back.pathname).toBe(`/auth/saml/${firm.organizationId}/slo`);
    const done = await browse(t, jar, back.toString());
    expect(location(done).pathname + location(done).search).toBe('/login?loggedOut=1');
  });

  it('lets only administrators configure SAML, and refuses an invalid certificate', async () => {
    const member = await signInAs(t.services, { id: firm.member.id, organizationId: firm.organizationId, role: 'member' });
    expect((await t.app.request('/v1/admin/saml', { headers: member })).status).toBe(403);
    const admin = await signInAs(t.services, { id: firm.admin.id, organizationId: firm.organizationId, role: 'admin' });
    const bad = await t.app.request('/v1/admin/saml', {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ entityId: 'x', ssoUrl: 'https://idp.example/sso', certificates: ['not a certificate'] }),
    });
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('invalid_certificate');
    const view = (await (await t.app.request('/v1/admin/saml', { headers: admin })).json()) as {
      configured: boolean;
      identityProvider: { allowIdpInitiated: boolean; certificates: Array<{ fingerprint256: string }> };
      serviceProvider: { acsUrl: string };
    };
    expect(view.configured).toBe(true);
    expect(view.identityProvider.allowIdpInitiated).toBe(false);
    expect(view.serviceProvider.acsUrl).toBe(acs(firm));
    expect(view.identityProvider.certificates[0]!.fingerprint256).toMatch(/^[0-9A-F:]+$/);
  });
});
