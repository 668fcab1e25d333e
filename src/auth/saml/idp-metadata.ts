import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { DOMParser, type Element as XmlElement } from '@xmldom/xmldom';
import { CasebridgeError } from '../../errors/index.ts';
import { isLoopbackHost, isPrivateAddress, publicOnlyLookup } from '../../security/private-addresses.ts';
import { InvalidCertificateError, normalizeCertificate } from './idp-config.ts';

/**
 * Reads what Casebridge needs from a SAML 2.0 identity provider's metadata (the XML OneLogin and
 * other IdPs publish): entity id, SSO URL, SLO URL and signing certificates. Metadata is not signed
 * here and is trusted as far as its source is (a file or URL the operator chose), so the parser is
 * strict instead: no DOCTYPE (no entity expansion), exactly one IdP entity, every certificate valid.
 */

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

/** Largest metadata accepted, from a file or a URL (real IdP metadata is a few KiB). */
export const MAX_METADATA_BYTES = 1024 * 1024;

/** The IdP facts, ready for `saveSamlIdpConfig` (certificates as normalized PEM). */
export interface IdpMetadata {
  entityId: string;
  ssoUrl: string;
  sloUrl: string | null;
  certificates: string[];
}

/** Metadata that cannot be used; `code` is stable, the message says what is wrong. */
export class IdpMetadataError extends CasebridgeError {
  constructor(
    override readonly code: MetadataFetchCode,
    message: string,
  ) {
    super(code, message);
  }
}

const invalid = (message: string) => new IdpMetadataError('metadata_invalid', message);

function children(parent: XmlElement, localName: string): XmlElement[] {
  const out: XmlElement[] = [];
  const list = parent.getElementsByTagNameNS(MD, localName);
  for (let i = 0; i < list.length; i++) out.push(list.item(i)!);
  return out;
}

function httpUrl(value: string | null, what: string): string {
  if (!value) throw invalid(`${what} has no Location`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw invalid(`${what} Location is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(`${what} Location must be http(s)`);
  return url.toString();
}

/** The endpoint of the preferred binding (HTTP-Redirect, which our requests use, else HTTP-POST). */
function endpoint(descriptor: XmlElement, localName: string, bindings: string[]): string | null {
  const services = children(descriptor, localName);
  for (const binding of bindings) {
    const match = services.find((s) => s.getAttribute('Binding') === binding);
    if (match) return httpUrl(match.getAttribute('Location'), localName);
  }
  return null;
}

/** Parses IdP metadata XML. Throws IdpMetadataError naming what is missing or wrong. */
export function parseIdpMetadata(xml: string): IdpMetadata {
  if (Buffer.byteLength(xml) > MAX_METADATA_BYTES) throw new IdpMetadataError('metadata_too_large', `metadata is larger than ${MAX_METADATA_BYTES} bytes`);
  if (/<!DOCTYPE/i.test(xml)) throw invalid('metadata with a DOCTYPE is refused');
  const errors: string[] = [];
  let root: XmlElement | null = null;
  try {
    root = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') errors.push(String(message));
      },
    }).parseFromString(xml, 'text/xml').documentElement;
  } catch (err) {
    // xmldom throws a ParseError on fatal errors (no root element, …).
    errors.push(err instanceof Error ? err.message : String(err));
  }
  if (errors.length || !root) throw invalid(`metadata is not well-formed XML (${(errors[0] ?? 'no root element').slice(0, 200)})`);
  if (root.namespaceURI !== MD || !['EntityDescriptor', 'EntitiesDescriptor'].includes(root.localName ?? '')) {
    throw invalid('metadata must be a SAML 2.0 EntityDescriptor or EntitiesDescriptor');
  }
  const entities = (root.localName === 'EntityDescriptor' ? [root] : children(root, 'EntityDescriptor')).filter(
    (e) => children(e, 'IDPSSODescriptor').length > 0,
  );
  if (entities.length !== 1) throw invalid(`metadata must describe exactly one identity provider (found ${entities.length})`);
  const entity = entities[0]!;
  const entityId = entity.getAttribute('entityID')?.trim();
  if (!entityId) throw invalid('the EntityDescriptor has no entityID');
  if (entityId.length > 1024) throw invalid('the entityID is longer than 1024 characters');
  const descriptor = children(entity, 'IDPSSODescriptor')[0]!;
  const protocols = descriptor.getAttribute('protocolSupportEnumeration') ?? '';
  if (!protocols.split(/\s+/).includes('urn:oasis:names:tc:SAML:2.0:protocol')) throw invalid('the IdP does not support the SAML 2.0 protocol');

  const ssoUrl = endpoint(descriptor, 'SingleSignOnService', [REDIRECT, POST]);
  if (!ssoUrl) throw invalid('the IdP has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding');
  const sloUrl = endpoint(descriptor, 'SingleLogoutService', [REDIRECT]);

  const certificates: string[] = [];
  for (const key of children(descriptor, 'KeyDescriptor')) {
    const use = key.getAttribute('use');
    if (use && use !== 'signing') continue; // encryption keys do not sign assertions
    const certs = key.getElementsByTagNameNS(DS, 'X509Certificate');
    for (let i = 0; i < certs.length; i++) {
      try {
        const { pem } = normalizeCertificate(certs.item(i)!.textContent ?? '', certificates.length);
        if (!certificates.includes(pem)) certificates.push(pem);
      } catch (err) {
        if (err instanceof InvalidCertificateError) throw invalid(`signing certificate ${certificates.length + 1} is not a valid X.509 certificate`);
        throw err;
      }
    }
  }
  if (!certificates.length) throw invalid('the IdP publishes no signing certificate');
  if (certificates.length > 5) throw invalid('the IdP publishes more than 5 signing certificates');
  return { entityId, ssoUrl, sloUrl, certificates };
}

/** Why a metadata URL could not be used; `code` is stable, the message never quotes what was fetched. */
export type MetadataFetchCode = 'metadata_url_refused' | 'metadata_fetch_failed' | 'metadata_too_large' | 'metadata_invalid' | 'metadata_unavailable';

/** The HTTP status of an IdpMetadataError answered to an administrator (always a 4xx). */
export function metadataErrorStatus(code: MetadataFetchCode): 400 | 413 | 422 {
  if (code === 'metadata_too_large') return 413;
  if (code === 'metadata_fetch_failed' || code === 'metadata_invalid') return 422;
  return 400;
}

/**
 * Fetches an identity provider's metadata from a URL an administrator (page, API) or the operator
 * (command line) gives — a request the service makes from inside its network, so under SSRF rules:
 * `https:` only (plain `http:` only to a loopback host, outside production, where private hosts are
 * allowed); no credentials in the URL; unless `allowPrivate`, every address the host resolves to must
 * be public, checked by the socket's own DNS lookup (the address checked is the address connected
 * to); redirects are not followed; at most `timeoutMs` (10 s) for the whole exchange; an XML content
 * type; at most MAX_METADATA_BYTES of body, read as a stream so a huge or endless answer is cut off.
 */
export async function fetchIdpMetadata(url: string, options: { allowPrivate: boolean; production: boolean; timeoutMs?: number }): Promise<string> {
  const refused = (message: string) => new IdpMetadataError('metadata_url_refused', message);
  const failed = (message: string) => new IdpMetadataError('metadata_fetch_failed', message);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw refused('the metadata URL is not an absolute URL');
  }
  const httpAllowed = !options.production && options.allowPrivate && isLoopbackHost(target.hostname);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && httpAllowed)) {
    throw refused('the metadata URL must be https:// (http:// only to a loopback host in development)');
  }
  if (target.username || target.password) throw refused('the metadata URL must not carry credentials');
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivate && isIP(literal) && isPrivateAddress(literal)) throw refused('the metadata URL points to a private, loopback or reserved address');
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (target.protocol === 'https:' ? https : http).request(target, {
      method: 'GET',
      signal,
      headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' },
      ...(options.allowPrivate ? {} : { lookup: publicOnlyLookup as never }),
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  }).catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    if (code === 'EPRIVATE') throw refused('the metadata URL points to a private, loopback or reserved address');
    if (signal.aborted) throw failed('the metadata URL could not be read (timed out)');
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw failed('the metadata URL could not be read (the host name does not resolve)');
    throw failed(`the metadata URL could not be read (${code ? `connection failed, ${code}` : 'connection failed'})`);
  });
  try {
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400) throw failed(`the metadata URL answered a redirect (HTTP ${status}); give the final address`);
    if (status < 200 || status >= 300) throw failed(`the metadata URL answered HTTP ${status}`);
    const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!/^(application|text)\/([a-z0-9.-]+\+)?xml$/.test(type))
      throw new IdpMetadataError('metadata_invalid', 'the metadata URL did not answer XML (its content type is not an XML type)');
    if (Number(res.headers['content-length'] ?? 0) > MAX_METADATA_BYTES)
      throw new IdpMetadataError('metadata_too_large', `metadata is larger than ${MAX_METADATA_BYTES} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > MAX_METADATA_BYTES) throw new IdpMetadataError('metadata_too_large', `metadata is larger than ${MAX_METADATA_BYTES} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof IdpMetadataError) throw err;
    throw failed(signal.aborted ? 'the metadata URL could not be read (timed out)' : 'the metadata URL could not be read (the answer was interrupted)');
  } finally {
    res.destroy();
  }
}
