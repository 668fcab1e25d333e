import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { type OneLoginIdp, oneLoginIdp, redirectBindingUrl } from '../../sandbox/onelogin/idp.ts';
import { escapeXml, NS, samlId } from '../../sandbox/onelogin/response.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { browse, CookieJar, errorCode, eventsWithReason, location, samlSignIn } from './helpers.ts';

/**
 * IdP-initiated single logout: a signed LogoutRequest ends the user's SAML sessions once, within its
 * time window, and the LogoutResponse goes only to the IdP's SLO URL.
 */
describe('SAML single logout (IdP-initiated)', () => {
  let sandbox: Sandbox;
  let t: TestServices;
  let idp: OneLoginIdp;
  let firm: SeededOrg; // IdP with an SLO URL
  let noSlo: SeededOrg; // IdP without one
  const USER = 'alice@hartmann-law.example';

  async function configure(org: SeededOrg, appId: string, sloUrl: string | null) {
    const headers = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const res = await t.app.request('/v1/admin/saml', {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        entityId: idp.entityId(appId),
        ssoUrl: idp.ssoUrl(appId),
        sloUrl,
        certificates: [idp.certificatePem],
        jitProvisioning: true,
        linkByEmail: true,
      }),
    });
    expect(res.status).toBe(200);
  }

  /** A LogoutRequest signed by the IdP (HTTP-Redirect binding), as OneLogin sends it. */
  function logoutRequestUrl(org: SeededOrg, appId: string, options: { issueInstant?: Date; notOnOrAfter?: Date } = {}): string {
    const slo = `${t.config.PUBLIC_BASE_URL}/auth/saml/${org.organizationId}/slo`;
    const at = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const xml =
      `<samlp:LogoutRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${samlId()}" Version="2.0"` +
      ` IssueInstant="${at(options.issueInstant ?? new Date())}"${options.notOnOrAfter ? ` NotOnOrAfter="${at(options.notOnOrAfter)}"` : ''} Destination="${escapeXml(slo)}">` +
      `<saml:Issuer>${escapeXml(idp.entityId(appId))}</saml:Issuer>` +
      `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${USER}</saml:NameID>` +
      `</samlp:LogoutRequest>`;
    return redirectBindingUrl({ url: slo, key: idp.privateKeyPem, message: { SAMLRequest: xml } });
  }

  const signedIn = async (org: SeededOrg) => {
    const jar = new CookieJar();
    expect((await samlSignIn(t, jar, sandbox, org.organizationId, USER)).status).toBe(303);
    return jar;
  };
  const alive = async (jar: CookieJar) => (await browse(t, jar, '/v1/me')).status === 200;

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
    idp = oneLoginIdp(sandbox.state);
    t = await createTestServices({ SANDBOX_URL: sandbox.url });
    firm = await seedOrg(t.services, 'Hartmann Law');
    noSlo = await seedOrg(t.services, 'Keller Partners');
    await configure(firm, 'slo-app', idp.sloUrl('slo-app'));
    await configure(noSlo, 'no-slo-app', null);
  });
  afterAll(async () => {
    await t?.cleanup();
    await sandbox?.close();
  });

  it('ends the session once; the same signed LogoutRequest replayed later does not end a new session', async () => {
    const first = await signedIn(firm);
    const captured = logoutRequestUrl(firm, 'slo-app');
    const res = await browse(t, new CookieJar(), captured);
    expect(location(res).href.startsWith(idp.sloUrl('slo-app'))).toBe(true);
    expect(location(res).searchParams.get('SAMLResponse')).toBeTruthy();
    expect(await alive(first)).toBe(false);

    const second = await signedIn(firm);
    const replay = await browse(t, new CookieJar(), captured);
    expect(replay.status).toBe(400);
    expect(await errorCode(replay)).toBe('saml_logout_replay');
    expect(await alive(second)).toBe(true);
    const [event] = await eventsWithReason(t.services, 'saml_logout_replay');
    expect(event).toMatchObject({ organization_id: firm.organizationId, kind: 'logout', outcome: 'failure', method: 'saml' });
  });

  it('refuses a LogoutRequest outside its time window (old IssueInstant, passed NotOnOrAfter, future IssueInstant)', async () => {
    const jar = await signedIn(firm);
    const hour = 60 * 60_000;
    for (const options of [
      { issueInstant: new Date(Date.now() - hour) },
      { issueInstant: new Date(Date.now() - 10_000), notOnOrAfter: new Date(Date.now() - 5 * 60_000) },
      { issueInstant: new Date(Date.now() + hour) },
    ]) {
      const res = await browse(t, new CookieJar(), logoutRequestUrl(firm, 'slo-app', options));
      expect(res.status, JSON.stringify(options)).toBe(400);
      expect(['saml_logout_stale', 'saml_logout_invalid']).toContain(await errorCode(res));
    }
    expect(await alive(jar)).toBe(true);
    expect((await eventsWithReason(t.services, 'saml_logout_stale')).length).toBeGreaterThanOrEqual(1);
  });

  it('never sends the LogoutResponse to the sign-in URL when the IdP has no SLO URL', async () => {
    const jar = await signedIn(noSlo);
    const res = await browse(t, new CookieJar(), logoutRequestUrl(noSlo, 'no-slo-app'));
    const target = location(res);
    expect(target.href.startsWith(idp.ssoUrl('no-slo-app'))).toBe(false);
    expect(target.pathname + target.search).toBe('/login?loggedOut=1');
    expect(target.searchParams.get('SAMLResponse')).toBeNull();
    expect(await alive(jar)).toBe(false);
  });
});
