import { DOMParser, type Element as XmlElement } from '@xmldom/xmldom';
import { InvalidCertificateError, normalizeCertificate } from './idp-config.ts';
import { CasebridgeError } from '../../errors/index.ts';

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
    override readonly code: 'metadata_invalid' | 'metadata_unavailable' | 'metadata_too_large',
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

/**
 * Fetches metadata from an http(s) URL: at most `timeoutMs` for the whole exchange, at most
 * MAX_METADATA_BYTES of body (read as a stream, so a huge or endless answer is cut off early).
 */
export async function fetchIdpMetadata(url: string, options: { timeoutMs?: number } = {}): Promise<string> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new IdpMetadataError('metadata_unavailable', 'the metadata URL is not a URL');
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new IdpMetadataError('metadata_unavailable', 'the metadata URL must be http:// or https://');
  }
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  try {
    const res = await fetch(target, { signal, redirect: 'follow', headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } });
    if (!res.ok) throw new IdpMetadataError('metadata_unavailable', `the metadata URL answered HTTP ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_METADATA_BYTES) throw new IdpMetadataError('metadata_too_large', `metadata is larger than ${MAX_METADATA_BYTES} bytes`);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_METADATA_BYTES) {
        await reader.cancel();
        throw new IdpMetadataError('metadata_too_large', `metadata is larger than ${MAX_METADATA_BYTES} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof IdpMetadataError) throw err;
    const reason = signal.aborted ? 'timed out' : err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw new IdpMetadataError('metadata_unavailable', `the metadata URL could not be read (${reason.slice(0, 200)})`);
  }
}
