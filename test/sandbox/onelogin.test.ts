import { X509Certificate } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { applyXsw, XSW_VARIANTS } from '../../sandbox/onelogin/attacks.ts';
import { oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { encodeSamlPost } from '../../sandbox/onelogin/response.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';

const ACS = 'http://127.0.0.1:9/acs';
const SP = 'http://127.0.0.1:9/metadata';

/** Reads the hidden fields of the auto-submitting form. */
function formFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    out[m[1]!] = m[2]!.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
  }
  return out;
}

describe('sandbox: OneLogin SAML identity provider', () => {
  let sandbox: Sandbox;
  let saml: SAML;
  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
    const idp = oneLoginIdp(sandbox.state);
    saml = new SAML({
      entryPoint: idp.ssoUrl('app1'),
      logoutUrl: idp.sloUrl('app1'),
      callbackUrl: ACS,
      issuer: SP,
      audience: SP,
      idpCert: idp.certificatePem,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: true,
      validateInResponseTo: ValidateInResponseTo.always,
      signatureAlgorithm: 'sha256',
      acceptedClockSkewMs: 60_000,
    });
  });
  afterAll(async () => sandbox.close());

  it('publishes metadata with its entity id, SSO/SLO locations and the signing certificate', async () => {
    const xml = await (await fetch(`${sandbox.url}/onelogin/saml/metadata/app1`)).text();
    expect(xml).toContain(`entityID="${sandbox.url}/onelogin/saml/metadata/app1"`);
    expect(xml).toContain(`Location="${sandbox.url}/onelogin/trust/saml2/http-post/sso/app1"`);
    expect(xml).toContain(`Location="${sandbox.url}/onelogin/trust/saml2/http-redirect/slo/app1"`);
    const certBody = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(xml)![1]!;
    const cert = new X509Certificate(Buffer.from(certBody, 'base64'));
    expect(cert.publicKey.equals(new X509Certificate(oneLoginIdp(sandbox.state).certificatePem).publicKey)).toBe(true);
  });

  it('answers an SP-initiated AuthnRequest (HTTP-Redirect) for ?user= with a signed response node-saml accepts', async () => {
    const url = await saml.getAuthorizeUrlAsync('relay-1', undefined, {});
    const html = await (await fetch(`${url}&user=alice@hartmann-law.example`)).text();
    expect(html).toContain(`action="${ACS}"`);
    const fields = formFields(html);
    expect(fields.RelayState).toBe('relay-1');
    const xml = Buffer.from(fields.SAMLResponse!, 'base64').toString();
    expect(xml).toContain(`Destination="${ACS}"`);
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! });
    expect(profile?.nameID).toBe('alice@hartmann-law.example');
    expect(profile?.issuer).toBe(`${sandbox.url}/onelogin/saml/metadata/app1`);
    expect(profile?.attributes).toMatchObject({ 'User.email': 'alice@hartmann-law.example', 'User.FirstName': 'Alice', 'User.LastName': 'Hartmann' });
    expect(profile?.sessionIndex).toBeTruthy();
  });

  it('shows an account picker without ?user= whose buttons post back and complete the login', async () => {
    const url = await saml.getAuthorizeUrlAsync('', undefined, {});
    const page = await (await fetch(url)).text();
    expect(page).toContain('Sign in to OneLogin');
    const forms = [...page.matchAll(/<form method="post" action="([^"]+)">(.*?)<\/form>/g)];
    const bob = forms.find((f) => f[2]!.includes('bob@hartmann-law.example'))!;
    const res = await fetch(new URL(bob[1]!, sandbox.url), { method: 'POST', body: new URLSearchParams(formFields(bob[2]!)) });
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: formFields(await res.text()).SAMLResponse! });
    expect(profile?.nameID).toBe('bob@hartmann-law.example');
  });

  it('issues IdP-initiated responses without InResponseTo for a registered app', async () => {
    await fetch(`${sandbox.url}/_sandbox/onelogin/apps/app2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ acsUrl: ACS, audience: SP }),
    });
    const html = await (await fetch(`${sandbox.url}/onelogin/trust/saml2/http-post/sso/app2?user=carol@gmail.example`)).text();
    const xml = Buffer.from(formFields(html).SAMLResponse!, 'base64').toString();
    expect(xml).not.toContain('InResponseTo');
    expect(xml).toContain('carol@gmail.example');
  });

  it('signs both the response and the assertion with RSA-SHA256, and its XSW variants break node-saml validation', async () => {
    const idp = oneLoginIdp(sandbox.state);
    const good = idp.buildResponse({ issuer: idp.entityId('app1'), acsUrl: ACS, audience: SP, nameId: 'alice@hartmann-law.example' });
    expect(good.match(/<ds:Signature[ >]/g)).toHaveLength(2);
    expect(good).toContain('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    const lax = new SAML({
      callbackUrl: ACS,
      issuer: SP,
      audience: SP,
      idpCert: idp.certificatePem,
      wantAuthnResponseSigned: true,
      wantAssertionsSigned: true,
    });
    await expect(lax.validatePostResponseAsync({ SAMLResponse: encodeSamlPost(good) })).resolves.toMatchObject({
      profile: { nameID: 'alice@hartmann-law.example' },
    });
    for (const variant of XSW_VARIANTS) {
      const evil = applyXsw(good, variant, 'mallory@hartmann-law.example');
      expect(evil, variant).toContain('mallory@hartmann-law.example');
      await expect(lax.validatePostResponseAsync({ SAMLResponse: encodeSamlPost(evil) }), variant).rejects.toThrow();
    }
  });

  it('answers a LogoutRequest (HTTP-Redirect) with a signed LogoutResponse to the registered SLO URL', async () => {
    await fetch(`${sandbox.url}/_sandbox/onelogin/apps/app1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sloUrl: 'http://127.0.0.1:9/slo' }),
    });
    const url = await saml.getLogoutUrlAsync(
      { nameID: 'alice@hartmann-law.example', nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', sessionIndex: '_s1' } as never,
      'bye',
      {},
    );
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('http://127.0.0.1:9/slo');
    expect(location.searchParams.get('RelayState')).toBe('bye');
    expect(location.searchParams.get('Signature')).toBeTruthy();
    const xml = inflateRawSync(Buffer.from(location.searchParams.get('SAMLResponse')!, 'base64')).toString();
    expect(xml).toContain('LogoutResponse');
    const result = await saml.validateRedirectAsync(Object.fromEntries(location.searchParams), location.search.slice(1));
    expect(result.loggedOut).toBe(true);
  });
});
