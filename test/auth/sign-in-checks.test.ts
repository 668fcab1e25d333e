import { describe, expect, it } from 'vitest';
import { samlResponseXml } from '../../sandbox/onelogin/response.ts';
import { googleDomainAllowed } from '../../src/auth/identities.ts';
import { classifyOidcError } from '../../src/auth/oidc-google.ts';
import { safeReturnTo } from '../../src/auth/return-to.ts';
import { checkVerifiedResponse, precheckSamlResponse, readVerifiedResponse } from '../../src/auth/saml/response-checks.ts';
import { SignInError } from '../../src/auth/sign-in-error.ts';

/** Pure sign-in checks, without I/O. */

const ACS = 'https://cb.example/auth/saml/org/acs';
const IDP = 'https://app.onelogin.com/saml/metadata/1';
const base = { issuer: IDP, acsUrl: ACS, audience: 'https://cb.example/auth/saml/org/metadata', nameId: 'alice@firm.example', inResponseTo: '_req1' };

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'accepted';
  } catch (e) {
    return e instanceof SignInError ? e.code : `unexpected: ${String(e)}`;
  }
};

describe('safeReturnTo', () => {
  it.each([
    ['/cases?x=1#top', '/cases?x=1#top'],
    ['/', '/'],
    ['https://evil.example/', '/'],
    ['//evil.example/path', '/'],
    ['/\\evil.example', '/'],
    ['\\\\evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['/ok\r\nSet-Cookie: x=1', '/'],
    ['cases', '/'],
    ['', '/'],
    [undefined, '/'],
  ])('%s → %s', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });
});

describe('SAML precheck (before node-saml)', () => {
  it('reads InResponseTo and assertion ids of a well-formed response', () => {
    const result = precheckSamlResponse(samlResponseXml({ ...base, assertionId: '_a1' }));
    expect(result).toMatchObject({ inResponseTo: '_req1', assertionIds: ['_a1'], responseHasSignature: false, assertionHasSignature: false });
  });

  it.each([
    ['a DOCTYPE', (x: string) => `<!DOCTYPE r [<!ENTITY e "x">]>${x}`],
    ['two roots', (x: string) => `${x}${x}`],
    ['a comment in the NameID', (x: string) => x.replace('alice@firm.example', 'alice@firm.example<!---->.evil')],
    ['a comment after the root', (x: string) => `${x}<!-- hi -->`],
    ['a processing instruction', (x: string) => x.replace('<saml:Issuer>', '<?evil x?><saml:Issuer>')],
    ['a root that is not a Response', (x: string) => x.replaceAll('samlp:Response', 'samlp:LogoutResponse')],
    ['broken XML', (x: string) => x.slice(0, -10)],
  ])('refuses %s as saml_response_malformed', (_name, mutate) => {
    expect(codeOf(() => precheckSamlResponse(mutate(samlResponseXml(base))))).toBe('saml_response_malformed');
  });
});

describe('checks on the verified response (what node-saml leaves to us)', () => {
  const expected = { idpEntityId: IDP, acsUrl: ACS, organizationId: 'org' };
  const facts = (spec: Partial<Parameters<typeof samlResponseXml>[0]> = {}) => readVerifiedResponse(samlResponseXml({ ...base, ...spec }));

  it('accepts the expected issuer, destination and recipient', () => {
    expect(codeOf(() => checkVerifiedResponse(facts(), expected))).toBe('accepted');
    expect(facts().nameId).toBe('alice@firm.example');
  });

  it.each([
    [{ issuer: 'https://app.onelogin.com/saml/metadata/2' }, 'saml_issuer_mismatch'],
    [{ assertionIssuer: 'https://app.onelogin.com/saml/metadata/2' }, 'saml_issuer_mismatch'],
    [{ destination: 'https://other.example/acs' }, 'saml_destination_mismatch'],
    [{ destination: null }, 'saml_destination_mismatch'],
    [{ recipient: 'https://other.example/acs' }, 'saml_recipient_mismatch'],
    [{ recipient: null }, 'saml_recipient_mismatch'],
  ] as const)('refuses %o with %s', (spec, code) => {
    expect(codeOf(() => checkVerifiedResponse(facts(spec), expected))).toBe(code);
  });

  it('refuses a NameID that is not one text node, and a response with two assertions', () => {
    expect(codeOf(() => facts({ nameIdXml: 'alice@firm.example<b/>x' }))).toBe('saml_nameid_invalid');
    const xml = samlResponseXml(base);
    const assertion = xml.slice(xml.indexOf('<saml:Assertion'), xml.indexOf('</samlp:Response>'));
    expect(codeOf(() => readVerifiedResponse(xml.replace('</samlp:Response>', `${assertion}</samlp:Response>`)))).toBe('saml_signature_invalid');
  });
});

describe('Google policy and error classification', () => {
  it('admits any domain when none is configured, else only listed ones', () => {
    expect(googleDomainAllowed({}, null)).toBe(true);
    expect(googleDomainAllowed({ allowedGoogleDomains: ['firm.example'] }, 'firm.example')).toBe(true);
    expect(googleDomainAllowed({ allowedGoogleDomains: ['firm.example'] }, 'FIRM.example')).toBe(true);
    expect(googleDomainAllowed({ allowedGoogleDomains: ['firm.example'] }, 'evil.example')).toBe(false);
    expect(googleDomainAllowed({ allowedGoogleDomains: ['firm.example'] }, null)).toBe(false);
  });

  it('maps token endpoint and network errors to stable codes', () => {
    expect(classifyOidcError(Object.assign(new Error('server responded with an error'), { error: 'invalid_grant' })).code).toBe('oidc_code_rejected');
    expect(classifyOidcError(new TypeError('fetch failed')).code).toBe('provider_unavailable');
    expect(classifyOidcError(new Error('something else')).code).toBe('oidc_token_invalid');
  });
});
