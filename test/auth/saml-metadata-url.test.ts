import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateBody, generateSigningMaterial } from '../../sandbox/onelogin/x509.ts';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * `POST /v1/admin/saml/metadata-url`: an administrator configures the IdP from its metadata URL,
 * fetched by the service under SSRF rules, answered with a 4xx and a stable code when refused (never
 * a 500, never the fetched content), recorded as the other sources are (`source: 'metadata_url'`).
 */
describe('SAML identity provider from a metadata URL (API)', () => {
  let allowed: TestServices;
  let strict: TestServices;
  let server: Server;
  let base: string;
  const { certificatePem } = generateSigningMaterial('idp.example');
  const metadata = (entityId: string) =>
    `<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(certificatePem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/metadata') {
        res.setHeader('content-type', 'text/xml; charset=utf-8');
        res.end(metadata('https://idp.example/metadata/from-url'));
      } else if (req.url === '/html') {
        res.setHeader('content-type', 'text/html');
        res.end('<p>internal-admin-console-token=abc</p>');
      } else if (req.url === '/not-saml') {
        res.setHeader('content-type', 'application/xml');
        res.end('<config><password>internal-secret</password></config>');
      } else if (req.url === '/redirect') {
        res.writeHead(301, { location: 'http://10.0.0.1/metadata' });
        res.end();
      } else if (req.url === '/big') {
        res.setHeader('content-type', 'application/xml');
        res.end(`<x>${' '.repeat(1024 * 1024 + 10)}</x>`);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    allowed = await createTestServices({ SAML_METADATA_ALLOW_PRIVATE_HOSTS: 'true' });
    strict = await createTestServices();
  });
  afterAll(async () => {
    await allowed?.cleanup();
    await strict?.cleanup();
    server.closeAllConnections();
    server.close();
  });

  async function importUrl(t: TestServices, headers: Record<string, string>, body: unknown) {
    const res = await t.app.request('/v1/admin/saml/metadata-url', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: JSON.parse(text) as { error?: { code: string; message: string }; identityProvider?: { entityId: string } } };
  }

  it('saves the IdP the URL describes and records saml_config_updated with source metadata_url', async () => {
    const org = await seedOrg(allowed.services, 'Saml Url Firm');
    const admin = await signInAs(allowed.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const res = await importUrl(allowed, admin, { url: `${base}/metadata`, allowIdpInitiated: true });
    expect(res.status, res.text).toBe(200);
    expect(res.json.identityProvider).toMatchObject({
      entityId: 'https://idp.example/metadata/from-url',
      ssoUrl: 'https://idp.example/sso',
      allowIdpInitiated: true,
    });
    const event = await allowed.services.db
      .selectFrom('security_events')
      .select(['method', 'actor_user_id', 'details'])
      .where('organization_id', '=', org.organizationId)
      .where('kind', '=', 'saml_config_updated')
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({
      method: 'admin',
      actor_user_id: org.admin.id,
      details: { source: 'metadata_url', entityId: 'https://idp.example/metadata/from-url' },
    });
  });

  it('answers refusals with a 4xx and a stable code, never quoting what was fetched, and saves nothing', async () => {
    const org = await seedOrg(allowed.services, 'Saml Url Refusals Firm');
    const admin = await signInAs(allowed.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const cases: [string, number, string][] = [
      ['file:///etc/passwd', 400, 'metadata_url_refused'],
      ['http://idp.example/metadata', 400, 'metadata_url_refused'],
      [`${base}/html`, 422, 'metadata_invalid'],
      [`${base}/not-saml`, 422, 'metadata_invalid'],
      [`${base}/redirect`, 422, 'metadata_fetch_failed'],
      [`${base}/missing`, 422, 'metadata_fetch_failed'],
      [`${base}/big`, 413, 'metadata_too_large'],
    ];
    for (const [url, status, code] of cases) {
      const res = await importUrl(allowed, admin, { url });
      expect({ url, status: res.status, code: res.json.error?.code }).toEqual({ url, status, code });
      for (const leak of ['internal-admin-console-token', 'internal-secret', '10.0.0.1']) expect(res.text).not.toContain(leak);
    }
    expect((await importUrl(allowed, admin, { url: '' })).status).toBe(400);
    const view = await allowed.app.request('/v1/admin/saml', { headers: admin });
    expect(((await view.json()) as { configured: boolean }).configured).toBe(false);
  });

  it('refuses loopback and private addresses when the deployment does not allow private hosts', async () => {
    const org = await seedOrg(strict.services, 'Saml Url Strict Firm');
    const admin = await signInAs(strict.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    for (const url of [
      `${base}/metadata`,
      `https://127.0.0.1:${new URL(base).port}/metadata`,
      'https://169.254.169.254/latest/meta-data/',
      'https://localhost/metadata',
    ]) {
      const res = await importUrl(strict, admin, { url });
      expect({ url, status: res.status, code: res.json.error?.code }).toEqual({ url, status: 400, code: 'metadata_url_refused' });
    }
  });
});
