import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateBody, generateSigningMaterial } from '../../sandbox/onelogin/x509.ts';
import { fetchIdpMetadata, IdpMetadataError, MAX_METADATA_BYTES, parseIdpMetadata } from '../../src/auth/saml/idp-metadata.ts';

const signing = generateSigningMaterial('idp.example');
const encryption = generateSigningMaterial('encryption.idp.example');
const cert = (pem: string) => certificateBody(pem);

const metadata = (inner: string, entityId = 'https://idp.example/metadata') =>
  `<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">` +
  `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${inner}</md:IDPSSODescriptor></md:EntityDescriptor>`;
const key = (pem: string, use?: string) =>
  `<md:KeyDescriptor${use ? ` use="${use}"` : ''}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n${cert(pem)}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
const sso = (binding: string, url: string) => `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:${binding}" Location="${url}"/>`;
const slo = (binding: string, url: string) => `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:${binding}" Location="${url}"/>`;

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof IdpMetadataError ? `${err.code}: ${err.message}` : `unexpected ${String(err)}`;
  }
  return 'accepted';
};

describe('IdP metadata', () => {
  it('reads entity id, the HTTP-Redirect SSO and SLO URLs and the signing certificates (not encryption keys)', () => {
    const parsed = parseIdpMetadata(
      metadata(
        key(signing.certificatePem, 'signing') +
          key(encryption.certificatePem, 'encryption') +
          sso('HTTP-POST', 'https://idp.example/sso/post') +
          sso('HTTP-Redirect', 'https://idp.example/sso/redirect') +
          slo('HTTP-POST', 'https://idp.example/slo/post') +
          slo('HTTP-Redirect', 'https://idp.example/slo/redirect'),
      ),
    );
    expect(parsed).toEqual({
      entityId: 'https://idp.example/metadata',
      ssoUrl: 'https://idp.example/sso/redirect',
      sloUrl: 'https://idp.example/slo/redirect',
      certificates: [expect.stringContaining('-----BEGIN CERTIFICATE-----')],
    });
    expect(parsed.certificates[0]!.replace(/\s|-----[A-Z ]+-----/g, '')).toBe(cert(signing.certificatePem));
  });

  it('takes the POST SSO endpoint when there is no redirect one, a key without `use`, and no SLO URL when none is offered', () => {
    const parsed = parseIdpMetadata(metadata(key(signing.certificatePem) + sso('HTTP-POST', 'https://idp.example/sso')));
    expect(parsed).toMatchObject({ ssoUrl: 'https://idp.example/sso', sloUrl: null, certificates: [expect.any(String)] });
  });

  it('picks the one identity provider out of an EntitiesDescriptor and refuses ambiguity', () => {
    const one = metadata(key(signing.certificatePem) + sso('HTTP-Redirect', 'https://idp.example/sso')).replace('<?xml version="1.0"?>', '');
    const two = one.replace('https://idp.example/metadata', 'https://idp2.example/metadata');
    const wrap = (inner: string) => `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">${inner}</EntitiesDescriptor>`;
    expect(parseIdpMetadata(wrap(one)).entityId).toBe('https://idp.example/metadata');
    expect(code(() => parseIdpMetadata(wrap(one + two)))).toBe('metadata_invalid: metadata must describe exactly one identity provider (found 2)');
  });

  it('refuses what it cannot trust or use, naming why', () => {
    const good = key(signing.certificatePem) + sso('HTTP-Redirect', 'https://idp.example/sso');
    const cases: Array<[string, string]> = [
      ['not xml at all', 'metadata_invalid: metadata is not well-formed XML'],
      ['<Foo xmlns="urn:example"/>', 'metadata_invalid: metadata must be a SAML 2.0 EntityDescriptor'],
      ['<a><b></a>', 'metadata_invalid: metadata is not well-formed XML'],
      [`<!DOCTYPE x [<!ENTITY e "boom">]>${metadata(good)}`, 'metadata_invalid: metadata with a DOCTYPE is refused'],
      [metadata(good, ''), 'metadata_invalid: the EntityDescriptor has no entityID'],
      [metadata(key(signing.certificatePem)), 'metadata_invalid: the IdP has no SingleSignOnService'],
      [metadata(sso('HTTP-Redirect', 'https://idp.example/sso')), 'metadata_invalid: the IdP publishes no signing certificate'],
      [
        metadata(key(encryption.certificatePem, 'encryption') + sso('HTTP-Redirect', 'https://idp.example/sso')),
        'metadata_invalid: the IdP publishes no signing certificate',
      ],
      [metadata(key(signing.certificatePem) + sso('HTTP-Redirect', 'javascript:alert(1)')), 'metadata_invalid: SingleSignOnService Location must be http(s)'],
      [
        metadata(
          `<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>${sso('HTTP-Redirect', 'https://idp.example/sso')}`,
        ),
        'metadata_invalid: signing certificate 1 is not a valid X.509 certificate',
      ],
      [`<x>${' '.repeat(MAX_METADATA_BYTES)}</x>`, 'metadata_too_large'],
    ];
    for (const [xml, expected] of cases)
      expect(
        code(() => parseIdpMetadata(xml)),
        xml.slice(0, 80),
      ).toContain(expected);
  });
});

describe('fetching IdP metadata', () => {
  let server: Server;
  let base: string;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/metadata') {
        res.setHeader('content-type', 'application/samlmetadata+xml');
        res.end(metadata(key(signing.certificatePem) + sso('HTTP-Redirect', 'https://idp.example/sso')));
      } else if (req.url === '/endless') {
        // No Content-Length, and more than the limit: the reader must stop on its own.
        res.setHeader('content-type', 'text/xml');
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const write = () => {
          while (res.write(chunk)) {}
        };
        res.on('drain', write);
        write();
      } else if (req.url === '/declared-large') {
        res.writeHead(200, { 'content-type': 'application/xml', 'content-length': String(MAX_METADATA_BYTES + 1) });
        res.write('<x>');
      } else if (req.url === '/html') {
        res.setHeader('content-type', 'text/html');
        res.end('<html><body>secret-looking page body</body></html>');
      } else if (req.url === '/redirect-private') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        res.end();
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 5_000);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const failure = async (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (err: unknown) => (err instanceof IdpMetadataError ? `${err.code}: ${err.message}` : String(err)),
    );
  const dev = { allowPrivate: true, production: false };

  it('reads metadata over http from a loopback host when private hosts are allowed, and parses it', async () => {
    expect(parseIdpMetadata(await fetchIdpMetadata(`${base}/metadata`, dev)).ssoUrl).toBe('https://idp.example/sso');
    expect(parseIdpMetadata(await fetchIdpMetadata(`http://localhost:${port}/metadata`, dev)).ssoUrl).toBe('https://idp.example/sso');
  });

  it('refuses other schemes, plain http outside loopback or in production, credentials and private addresses', async () => {
    expect(await failure(fetchIdpMetadata('file:///etc/passwd', dev))).toBe(
      'metadata_url_refused: the metadata URL must be https:// (http:// only to a loopback host in development)',
    );
    expect(await failure(fetchIdpMetadata('ftp://idp.example/metadata', dev))).toContain('metadata_url_refused');
    expect(await failure(fetchIdpMetadata('not a url', dev))).toContain('metadata_url_refused');
    expect(await failure(fetchIdpMetadata('http://idp.example/metadata', dev))).toContain('metadata_url_refused: the metadata URL must be https://');
    expect(await failure(fetchIdpMetadata(`${base}/metadata`, { allowPrivate: true, production: true }))).toContain('metadata_url_refused');
    expect(await failure(fetchIdpMetadata(`${base}/metadata`, { allowPrivate: false, production: false }))).toContain('metadata_url_refused');
    expect(await failure(fetchIdpMetadata('https://user:pw@idp.example/metadata', dev))).toBe(
      'metadata_url_refused: the metadata URL must not carry credentials',
    );
    // Private targets over https: address literals, and names resolving to them (checked by the socket's lookup).
    for (const url of [
      `https://127.0.0.1:${port}/metadata`,
      'https://169.254.169.254/latest/meta-data/',
      'https://[::1]/x',
      'https://10.1.2.3/x',
      `https://localhost:${port}/metadata`,
    ]) {
      expect(await failure(fetchIdpMetadata(url, { allowPrivate: false, production: true })), url).toBe(
        'metadata_url_refused: the metadata URL points to a private, loopback or reserved address',
      );
    }
  });

  it('follows no redirect (one to a private address included), and refuses non-XML answers without quoting them', async () => {
    const redirect = await failure(fetchIdpMetadata(`${base}/redirect-private`, dev));
    expect(redirect).toBe('metadata_fetch_failed: the metadata URL answered a redirect (HTTP 302); give the final address');
    expect(redirect).not.toContain('169.254');
    const html = await failure(fetchIdpMetadata(`${base}/html`, dev));
    expect(html).toBe('metadata_invalid: the metadata URL did not answer XML (its content type is not an XML type)');
    expect(html).not.toContain('secret-looking');
  });

  it('refuses error statuses, bodies over the limit (declared or streamed) and slow servers', async () => {
    expect(await failure(fetchIdpMetadata(`${base}/missing`, dev))).toBe('metadata_fetch_failed: the metadata URL answered HTTP 404');
    expect(await failure(fetchIdpMetadata(`${base}/endless`, dev))).toContain('metadata_too_large');
    expect(await failure(fetchIdpMetadata(`${base}/declared-large`, dev))).toContain('metadata_too_large');
    const started = Date.now();
    expect(await failure(fetchIdpMetadata(`${base}/slow`, { ...dev, timeoutMs: 300 }))).toBe(
      'metadata_fetch_failed: the metadata URL could not be read (timed out)',
    );
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
