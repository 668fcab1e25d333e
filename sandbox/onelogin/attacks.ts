import { DOMParser, type Element, XMLSerializer } from '@xmldom/xmldom';
import { NS } from './response.ts';

/**
 * Hostile variants of a validly signed SAML response, for tests that prove the service provider
 * rejects them. The eight XML Signature Wrapping (XSW) attacks follow "On Breaking SAML: Be Whoever
 * You Want to Be" (Somorovsky et al., 2012) as SAML Raider applies them: the signed element is kept
 * (so the signature still verifies) and moved, while an evil copy claiming another identity is put
 * where a naive service provider reads.
 */

export type XswVariant = 'XSW1' | 'XSW2' | 'XSW3' | 'XSW4' | 'XSW5' | 'XSW6' | 'XSW7' | 'XSW8';
export const XSW_VARIANTS: XswVariant[] = ['XSW1', 'XSW2', 'XSW3', 'XSW4', 'XSW5', 'XSW6', 'XSW7', 'XSW8'];

const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml');
const serialize = (node: unknown) => new XMLSerializer().serializeToString(node as Parameters<XMLSerializer['serializeToString']>[0]);

function first(root: Element | ReturnType<typeof parse>, localName: string): Element {
  const el = root.getElementsByTagNameNS('*', localName).item(0);
  if (!el) throw new Error(`no ${localName} element`);
  return el;
}

/** Direct child Signature of an element (not one nested deeper). */
function ownSignature(el: Element): Element | null {
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).localName === 'Signature' && (n as Element).namespaceURI === NS.dsig) return n as Element;
  }
  return null;
}

/** Makes an element claim another identity: its NameID and e-mail attribute values. */
function impersonate(el: Element, evilEmail: string): void {
  const nameIds = el.getElementsByTagNameNS('*', 'NameID');
  for (let i = 0; i < nameIds.length; i++) nameIds.item(i)!.textContent = evilEmail;
  const attributes = el.getElementsByTagNameNS('*', 'Attribute');
  for (let i = 0; i < attributes.length; i++) {
    const attr = attributes.item(i)!;
    if (!/mail/i.test(attr.getAttribute('Name') ?? '')) continue;
    const values = attr.getElementsByTagNameNS('*', 'AttributeValue');
    for (let j = 0; j < values.length; j++) values.item(j)!.textContent = evilEmail;
  }
}

/**
 * Applies one XSW variant to a signed response. XSW1–2 wrap the signed Response (needs a signed
 * response); XSW3–8 wrap the signed Assertion.
 */
export function applyXsw(signedXml: string, variant: XswVariant, evilEmail: string): string {
  const doc = parse(signedXml);
  const response = doc.documentElement!;
  switch (variant) {
    case 'XSW1': {
      // Evil response at the root; the original signed response hides inside the Signature.
      const original = response.cloneNode(true) as Element;
      const originalSig = ownSignature(original);
      if (originalSig) original.removeChild(originalSig);
      impersonate(response, evilEmail);
      const signature = ownSignature(response);
      if (!signature) throw new Error('XSW1 needs a signed Response');
      signature.appendChild(original);
      response.setAttribute('ID', '_evil_response_ID');
      break;
    }
    case 'XSW2': {
      // Same, but the original sits before the Signature as a detached sibling.
      const original = response.cloneNode(true) as Element;
      const originalSig = ownSignature(original);
      if (originalSig) original.removeChild(originalSig);
      impersonate(response, evilEmail);
      const signature = ownSignature(response);
      if (!signature) throw new Error('XSW2 needs a signed Response');
      response.insertBefore(original, signature);
      response.setAttribute('ID', '_evil_response_ID');
      break;
    }
    case 'XSW3': {
      // An evil unsigned assertion before the signed one.
      const assertion = first(response, 'Assertion');
      const evil = assertion.cloneNode(true) as Element;
      const sig = ownSignature(evil);
      if (sig) evil.removeChild(sig);
      evil.setAttribute('ID', '_evil_assertion_ID');
      impersonate(evil, evilEmail);
      response.insertBefore(evil, assertion);
      break;
    }
    case 'XSW4': {
      // The signed assertion becomes a child of the evil one.
      const assertion = first(response, 'Assertion');
      const evil = assertion.cloneNode(true) as Element;
      const sig = ownSignature(evil);
      if (sig) evil.removeChild(sig);
      evil.setAttribute('ID', '_evil_assertion_ID');
      impersonate(evil, evilEmail);
      response.replaceChild(evil, assertion);
      evil.appendChild(assertion);
      break;
    }
    case 'XSW5': {
      // The signed assertion is altered in place (keeping its Signature); an unsigned copy of the
      // original is appended to the Response.
      const assertion = first(response, 'Assertion');
      const copy = assertion.cloneNode(true) as Element;
      const sig = ownSignature(copy);
      if (sig) copy.removeChild(sig);
      impersonate(assertion, evilEmail);
      assertion.setAttribute('ID', '_evil_assertion_ID');
      response.appendChild(copy);
      break;
    }
    case 'XSW6': {
      // As XSW5, but the original copy goes inside the evil assertion's Signature.
      const assertion = first(response, 'Assertion');
      const signature = ownSignature(assertion);
      if (!signature) throw new Error('XSW6 needs a signed Assertion');
      const copy = assertion.cloneNode(true) as Element;
      const sig = ownSignature(copy);
      if (sig) copy.removeChild(sig);
      impersonate(assertion, evilEmail);
      assertion.setAttribute('ID', '_evil_assertion_ID');
      signature.appendChild(copy);
      break;
    }
    case 'XSW7': {
      // An evil unsigned assertion inside an Extensions element before the signed one.
      const assertion = first(response, 'Assertion');
      const extensions = doc.createElementNS(NS.protocol, 'samlp:Extensions');
      const evil = assertion.cloneNode(true) as Element;
      const sig = ownSignature(evil);
      if (sig) evil.removeChild(sig);
      impersonate(evil, evilEmail);
      extensions.appendChild(evil);
      response.insertBefore(extensions, assertion);
      break;
    }
    case 'XSW8': {
      // The signed assertion is altered; the original (unsigned) hides in a ds:Object of its Signature.
      const assertion = first(response, 'Assertion');
      const signature = ownSignature(assertion);
      if (!signature) throw new Error('XSW8 needs a signed Assertion');
      const copy = assertion.cloneNode(true) as Element;
      const sig = ownSignature(copy);
      if (sig) copy.removeChild(sig);
      impersonate(assertion, evilEmail);
      const object = doc.createElementNS(NS.dsig, 'ds:Object');
      object.appendChild(copy);
      signature.appendChild(object);
      break;
    }
  }
  return serialize(doc);
}

/** A document with two root elements: the evil (unsigned) one first, then the signed original. */
export function withExtraRoot(signedXml: string, evilEmail: string, position: 'before' | 'after' = 'before'): string {
  const evilDoc = parse(signedXml);
  const evil = evilDoc.documentElement!;
  const sig = ownSignature(evil);
  if (sig) evil.removeChild(sig);
  impersonate(evil, evilEmail);
  const evilXml = serialize(evil);
  return position === 'before' ? `${evilXml}${signedXml}` : `${signedXml}${evilXml}`;
}

/** Removes the Signature of the Response or of the Assertion (a "stripped signature" attack). */
export function stripSignature(signedXml: string, from: 'Response' | 'Assertion'): string {
  const doc = parse(signedXml);
  const el = from === 'Response' ? doc.documentElement! : first(doc, 'Assertion');
  const sig = ownSignature(el);
  if (sig) el.removeChild(sig);
  return serialize(doc);
}
