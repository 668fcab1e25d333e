import { DOMParser, type Document, type Element, type Node } from '@xmldom/xmldom';
import { SignInError } from '../sign-in-error.ts';

/**
 * Pure checks on SAML responses, around node-saml's validation:
 * - before it, `precheckSamlResponse` refuses what no honest IdP sends (several roots, DOCTYPE,
 *   comments — the NameID truncation trick — processing instructions, a root that is not a
 *   Response). It only ever refuses; it never decides who signs in.
 * - after it, `readVerifiedResponse` reads the facts node-saml leaves to the caller from the XML
 *   the signature verified (not from the raw document), and `checkVerifiedResponse` compares them.
 */

const PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

const malformed = (message: string) => new SignInError('saml_response_malformed', message, { status: 400 });

/** Parses strictly: any parser error or warning-level recovery is a refusal. */
export function parseStrict(xml: string): Document {
  const problems: string[] = [];
  let doc: Document;
  try {
    doc = new DOMParser({ onError: (level, message) => void (level !== 'warning' && problems.push(message)) }).parseFromString(xml, 'text/xml');
  } catch (err) {
    throw malformed(`the SAML response is not well-formed XML (${String((err as Error).message).slice(0, 120)})`);
  }
  if (problems.length) throw malformed(`the SAML response is not well-formed XML (${problems[0]!.slice(0, 120)})`);
  return doc;
}

function walk(node: Node, visit: (n: Node) => void): void {
  visit(node);
  for (let child = node.firstChild; child; child = child.nextSibling) walk(child, visit);
}

function children(el: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === localName) out.push(n as Element);
  }
  return out;
}

export interface PrecheckResult {
  /** The root's InResponseTo (unverified: chooses SP- or IdP-initiated handling only). */
  inResponseTo: string | null;
  /** Assertion ids in the raw document (unverified: used only to report a replay early). */
  assertionIds: string[];
  /** Whether the root Response has its own Signature element. */
  responseHasSignature: boolean;
  /** Whether any Assertion carries a Signature element. */
  assertionHasSignature: boolean;
  /** Raw SubjectConfirmationData / Conditions times (unverified: to word a time-check refusal). */
  times: { notBefore: string[]; notOnOrAfter: string[] };
}

/** Structural refusals before any cryptography. */
export function precheckSamlResponse(xml: string): PrecheckResult {
  if (/<!DOCTYPE/i.test(xml)) throw malformed('the SAML response contains a DOCTYPE declaration');
  const doc = parseStrict(xml);
  let elementRoots = 0;
  for (let n = doc.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1) elementRoots++;
    else if (n.nodeType === 7 && (n as unknown as { target: string }).target !== 'xml') throw malformed('the SAML response contains a processing instruction');
    else if (n.nodeType === 8) throw malformed('the SAML response contains an XML comment');
    else if (n.nodeType === 3 && (n.nodeValue ?? '').trim()) throw malformed('the SAML response has text outside its root element');
    else if (n.nodeType === 10) throw malformed('the SAML response contains a DOCTYPE declaration');
  }
  if (elementRoots !== 1) throw malformed('the SAML response must have exactly one root element');
  const root = doc.documentElement!;
  if (root.localName !== 'Response' || root.namespaceURI !== PROTOCOL) throw malformed('the SAML message is not a samlp:Response');
  walk(root, (n) => {
    // Comments inside a signed element are dropped by exclusive canonicalization, so a NameID
    // "admin@x<!---->.evil" still verifies; nothing legitimate needs them.
    if (n.nodeType === 8) throw malformed('the SAML response contains an XML comment');
    if (n.nodeType === 7) throw malformed('the SAML response contains a processing instruction');
  });
  const assertions = Array.from(
    { length: root.getElementsByTagNameNS(ASSERTION, 'Assertion').length },
    (_, i) => root.getElementsByTagNameNS(ASSERTION, 'Assertion').item(i)!,
  );
  const times = { notBefore: [] as string[], notOnOrAfter: [] as string[] };
  for (const a of assertions) {
    for (const localName of ['SubjectConfirmationData', 'Conditions']) {
      const list = a.getElementsByTagNameNS(ASSERTION, localName);
      for (let i = 0; i < list.length; i++) {
        const el = list.item(i)!;
        if (el.getAttribute('NotBefore')) times.notBefore.push(el.getAttribute('NotBefore')!);
        if (el.getAttribute('NotOnOrAfter')) times.notOnOrAfter.push(el.getAttribute('NotOnOrAfter')!);
      }
    }
  }
  return {
    inResponseTo: root.getAttribute('InResponseTo') || null,
    assertionIds: assertions.map((a) => a.getAttribute('ID')).filter((id): id is string => Boolean(id)),
    responseHasSignature: children(root, DSIG, 'Signature').length > 0,
    assertionHasSignature: assertions.some((a) => a.getElementsByTagNameNS(DSIG, 'Signature').length > 0),
    times,
  };
}

/** The facts of a verified response that node-saml does not check. */
export interface VerifiedResponseFacts {
  destination: string | null;
  inResponseTo: string | null;
  responseIssuer: string | null;
  assertionId: string;
  assertionIssuer: string | null;
  nameId: string;
  nameIdFormat: string | null;
  sessionIndex: string | null;
  /** Recipients of the bearer SubjectConfirmationData elements. */
  recipients: Array<string | null>;
  /** Latest NotOnOrAfter of the assertion (Conditions or bearer confirmation), epoch ms. */
  notOnOrAfterMs: number | null;
  /** Attribute name → values. */
  attributes: Record<string, string[]>;
}

const text = (el: Element | undefined): string | null => {
  if (!el) return null;
  const value = el.textContent?.trim();
  return value ? value : null;
};

/**
 * Reads the verified response (the canonical XML xml-crypto verified, as node-saml returns it). It
 * must contain exactly one Assertion; the NameID must be one text node.
 */
export function readVerifiedResponse(verifiedXml: string): VerifiedResponseFacts {
  const doc = parseStrict(verifiedXml);
  const root = doc.documentElement!;
  if (root.localName !== 'Response' || root.namespaceURI !== PROTOCOL) throw malformed('the verified SAML message is not a Response');
  const assertions = children(root, ASSERTION, 'Assertion');
  if (assertions.length !== 1) {
    throw new SignInError('saml_signature_invalid', 'the signed response must contain exactly one assertion', { status: 401 });
  }
  const assertion = assertions[0]!;
  const subject = children(assertion, ASSERTION, 'Subject')[0];
  const nameIdEl = subject ? children(subject, ASSERTION, 'NameID')[0] : undefined;
  if (!nameIdEl) throw new SignInError('saml_nameid_invalid', 'the assertion has no NameID', { status: 401 });
  const nameIdNodes: Node[] = [];
  for (let n = nameIdEl.firstChild; n; n = n.nextSibling) nameIdNodes.push(n);
  if (nameIdNodes.length !== 1 || nameIdNodes[0]!.nodeType !== 3 || !nameIdEl.textContent?.trim()) {
    throw new SignInError('saml_nameid_invalid', 'the NameID must be a single text value', { status: 401 });
  }
  const recipients: Array<string | null> = [];
  const times: number[] = [];
  for (const confirmation of subject ? children(subject, ASSERTION, 'SubjectConfirmation') : []) {
    if (confirmation.getAttribute('Method') !== BEARER) continue;
    for (const data of children(confirmation, ASSERTION, 'SubjectConfirmationData')) {
      recipients.push(data.getAttribute('Recipient') || null);
      const t = Date.parse(data.getAttribute('NotOnOrAfter') ?? '');
      if (!Number.isNaN(t)) times.push(t);
    }
  }
  for (const conditions of children(assertion, ASSERTION, 'Conditions')) {
    const t = Date.parse(conditions.getAttribute('NotOnOrAfter') ?? '');
    if (!Number.isNaN(t)) times.push(t);
  }
  const attributes: Record<string, string[]> = {};
  for (const statement of children(assertion, ASSERTION, 'AttributeStatement')) {
    for (const attribute of children(statement, ASSERTION, 'Attribute')) {
      const name = attribute.getAttribute('Name');
      if (!name) continue;
      attributes[name] = children(attribute, ASSERTION, 'AttributeValue').map((v) => v.textContent?.trim() ?? '');
    }
  }
  const authn = children(assertion, ASSERTION, 'AuthnStatement')[0];
  return {
    destination: root.getAttribute('Destination') || null,
    inResponseTo: root.getAttribute('InResponseTo') || null,
    responseIssuer: text(children(root, ASSERTION, 'Issuer')[0]),
    assertionId: assertion.getAttribute('ID') ?? '',
    assertionIssuer: text(children(assertion, ASSERTION, 'Issuer')[0]),
    nameId: nameIdEl.textContent!.trim(),
    nameIdFormat: nameIdEl.getAttribute('Format') || null,
    sessionIndex: authn?.getAttribute('SessionIndex') || null,
    recipients,
    notOnOrAfterMs: times.length ? Math.max(...times) : null,
    attributes,
  };
}

/** The checks node-saml leaves to the caller: issuer, destination, recipient, a bounded lifetime. */
export function checkVerifiedResponse(facts: VerifiedResponseFacts, expected: { idpEntityId: string; acsUrl: string; organizationId: string }): void {
  const fail = (code: string, message: string, details?: Record<string, unknown>) =>
    new SignInError(code, message, { status: 401, organizationId: expected.organizationId, ...(details ? { details } : {}) });
  if (facts.assertionIssuer !== expected.idpEntityId) {
    throw fail('saml_issuer_mismatch', 'the assertion was issued by another identity provider', { issuer: facts.assertionIssuer?.slice(0, 200) });
  }
  if (facts.responseIssuer !== null && facts.responseIssuer !== expected.idpEntityId) {
    throw fail('saml_issuer_mismatch', 'the response was issued by another identity provider', { issuer: facts.responseIssuer.slice(0, 200) });
  }
  if (facts.destination !== expected.acsUrl) {
    throw fail('saml_destination_mismatch', 'the response was addressed to another service provider', { destination: facts.destination?.slice(0, 200) });
  }
  if (facts.recipients.length === 0 || facts.recipients.some((r) => r !== expected.acsUrl)) {
    throw fail('saml_recipient_mismatch', 'the assertion was meant for another service provider (Recipient)');
  }
  if (facts.notOnOrAfterMs === null) {
    throw fail('saml_assertion_unbounded', 'the assertion has no NotOnOrAfter, so it cannot be protected against replay');
  }
  if (!facts.assertionId) throw fail('saml_response_malformed', 'the assertion has no ID');
}
