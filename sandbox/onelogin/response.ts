import { randomBytes } from 'node:crypto';
import { SignedXml } from 'xml-crypto';

/**
 * Builds and signs SAML 2.0 responses in OneLogin's shape. The emulator uses it for real logins;
 * attack tests use it (with `sandbox/onelogin/attacks.ts`) to craft responses that differ from a
 * good one in exactly one respect.
 */

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
} as const;

export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

export interface SamlResponseSpec {
  /** IdP entity id, used as the Response Issuer (and the Assertion Issuer unless `assertionIssuer`). */
  issuer: string;
  assertionIssuer?: string;
  /** The SP's ACS URL: default Destination and Recipient. */
  acsUrl: string;
  /** Response Destination; null leaves it out. */
  destination?: string | null;
  /** SubjectConfirmationData Recipient; null leaves it out. */
  recipient?: string | null;
  /** Audience (the SP entity id); null leaves out the AudienceRestriction. */
  audience: string | null;
  /** The AuthnRequest ID answered; absent for IdP-initiated responses. */
  inResponseTo?: string;
  nameId: string;
  nameIdFormat?: string;
  /** Raw XML used as the NameID content instead of the escaped `nameId` (e.g. comment injection). */
  nameIdXml?: string;
  attributes?: Record<string, string | string[]>;
  sessionIndex?: string;
  responseId?: string;
  assertionId?: string;
  /** Defaults to now. */
  issueInstant?: Date;
  /** Conditions window; defaults to now - 3 min .. now + 3 min (OneLogin's). */
  notBefore?: Date;
  notOnOrAfter?: Date;
  /** SubjectConfirmationData NotOnOrAfter; defaults to `notOnOrAfter`. */
  subjectNotOnOrAfter?: Date;
  statusCode?: string;
}

export interface SamlSigningSpec {
  privateKeyPem: string;
  certificatePem: string;
  /** Sign the Response element (default true). */
  signResponse?: boolean;
  /** Sign the Assertion element (default true). */
  signAssertion?: boolean;
}

export const samlId = (): string => `pfx${randomBytes(16).toString('hex')}`;

export const escapeXml = (s: string): string => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);

const instant = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The unsigned response XML. */
export function samlResponseXml(spec: SamlResponseSpec): string {
  const now = spec.issueInstant ?? new Date();
  const notBefore = spec.notBefore ?? new Date(now.getTime() - 3 * 60_000);
  const notOnOrAfter = spec.notOnOrAfter ?? new Date(now.getTime() + 3 * 60_000);
  const subjectNotOnOrAfter = spec.subjectNotOnOrAfter ?? notOnOrAfter;
  const destination = spec.destination === undefined ? spec.acsUrl : spec.destination;
  const recipient = spec.recipient === undefined ? spec.acsUrl : spec.recipient;
  const inResponseTo = spec.inResponseTo ? ` InResponseTo="${escapeXml(spec.inResponseTo)}"` : '';
  const attributes = Object.entries(spec.attributes ?? {})
    .map(([name, value]) => {
      const values = (Array.isArray(value) ? value : [value])
        .map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`)
        .join('');
      return `<saml:Attribute Name="${escapeXml(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values}</saml:Attribute>`;
    })
    .join('');
  const nameId = spec.nameIdXml ?? escapeXml(spec.nameId);
  return (
    `<samlp:Response xmlns:saml="${NS.assertion}" xmlns:samlp="${NS.protocol}" ID="${escapeXml(spec.responseId ?? samlId())}" Version="2.0" IssueInstant="${instant(now)}"` +
    `${destination === null ? '' : ` Destination="${escapeXml(destination)}"`}${inResponseTo}>` +
    `<saml:Issuer>${escapeXml(spec.issuer)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${escapeXml(spec.statusCode ?? SUCCESS)}"/></samlp:Status>` +
    `<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Version="2.0" ID="${escapeXml(spec.assertionId ?? samlId())}" IssueInstant="${instant(now)}">` +
    `<saml:Issuer>${escapeXml(spec.assertionIssuer ?? spec.issuer)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${escapeXml(spec.nameIdFormat ?? NAMEID_EMAIL)}">${nameId}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="${BEARER}"><saml:SubjectConfirmationData NotOnOrAfter="${instant(subjectNotOnOrAfter)}"` +
    `${recipient === null ? '' : ` Recipient="${escapeXml(recipient)}"`}${inResponseTo}/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${instant(notBefore)}" NotOnOrAfter="${instant(notOnOrAfter)}">` +
    `${spec.audience === null ? '' : `<saml:AudienceRestriction><saml:Audience>${escapeXml(spec.audience)}</saml:Audience></saml:AudienceRestriction>`}` +
    `</saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${instant(now)}" SessionNotOnOrAfter="${instant(new Date(now.getTime() + 24 * 3600_000))}" SessionIndex="${escapeXml(spec.sessionIndex ?? `_${randomBytes(16).toString('hex')}`)}">` +
    `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    `${attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : ''}` +
    `</saml:Assertion></samlp:Response>`
  );
}

/**
 * Signs one element (the first Assertion or the Response root) with an enveloped RSA-SHA256
 * signature placed right after its Issuer, as SAML requires, with the certificate in KeyInfo.
 */
export function signSamlElement(xml: string, element: 'Assertion' | 'Response', key: { privateKeyPem: string; certificatePem: string }): string {
  const target = element === 'Response' ? "/*[local-name(.)='Response']" : "/*[local-name(.)='Response']/*[local-name(.)='Assertion']";
  const sig = new SignedXml({
    privateKey: key.privateKeyPem,
    publicCert: key.certificatePem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: target,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}

/** Builds a response and signs the assertion, then the response (OneLogin "sign both"). */
export function buildSamlResponse(spec: SamlResponseSpec, signing: SamlSigningSpec): string {
  let xml = samlResponseXml(spec);
  if (signing.signAssertion !== false) xml = signSamlElement(xml, 'Assertion', signing);
  if (signing.signResponse !== false) xml = signSamlElement(xml, 'Response', signing);
  return xml;
}

/** The SAMLResponse form value (HTTP-POST binding: base64 of the XML, not deflated). */
export const encodeSamlPost = (xml: string): string => Buffer.from(xml, 'utf8').toString('base64');
