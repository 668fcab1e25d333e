import { createSign } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DOMParser, type Element } from '@xmldom/xmldom';
import type { Context, Hono } from 'hono';
import { applyFaults } from '../faults.ts';
import type { ProviderEmulator, SandboxContext } from '../server.ts';
import type { SandboxAccount, SandboxState } from '../state.ts';
import { accountPickerPage, autoPostForm } from './pages.ts';
import { buildSamlResponse, escapeXml, NS, type SamlResponseSpec, samlId } from './response.ts';
import { certificateBody, generateSigningMaterial } from './x509.ts';

/**
 * A SAML 2.0 identity provider in OneLogin's shape under `/onelogin`: per-app metadata, HTTP-POST
 * SSO (SP-initiated from an AuthnRequest by HTTP-Redirect or POST, or IdP-initiated), and
 * HTTP-Redirect single logout. Responses and assertions are both signed (RSA-SHA256) with a key
 * generated at start or given in `providers.onelogin`.
 */

/** Options under `SandboxOptions.providers.onelogin`. */
export interface OneLoginEmulatorOptions {
  privateKeyPem?: string;
  certificatePem?: string;
  apps?: Record<string, OneLoginApp>;
}

/** What OneLogin's app configuration holds about the service provider. */
export interface OneLoginApp {
  /** ACS URL for IdP-initiated logins (SP-initiated ones use the AuthnRequest's). */
  acsUrl?: string;
  /** Audience for IdP-initiated logins. */
  audience?: string;
  /** Where LogoutResponses go (else the SP metadata at the LogoutRequest's Issuer URL is read). */
  sloUrl?: string;
}

/** The emulator's signing material and URLs, for tests that craft responses themselves. */
export interface OneLoginIdp {
  privateKeyPem: string;
  certificatePem: string;
  entityId(appId: string): string;
  ssoUrl(appId: string): string;
  sloUrl(appId: string): string;
  metadataUrl(appId: string): string;
  /** Builds a response signed like the emulator's (override anything via `spec`). */
  buildResponse(spec: SamlResponseSpec, signing?: { signResponse?: boolean; signAssertion?: boolean }): string;
  /** The attributes the emulator sends for an account (OneLogin names). */
  attributesFor(account: SandboxAccount): Record<string, string | string[]>;
}

const idps = new WeakMap<SandboxState, OneLoginIdp>();

/** The OneLogin emulator of a running sandbox (throws when the emulator is not mounted). */
export function oneLoginIdp(state: SandboxState): OneLoginIdp {
  const idp = idps.get(state);
  if (!idp) throw new Error('the OneLogin emulator is not mounted on this sandbox');
  return idp;
}

interface OneLoginStore {
  apps: Map<string, OneLoginApp>;
}

function decodeSamlMessage(value: string): string {
  const raw = Buffer.from(value, 'base64');
  try {
    return inflateRawSync(raw).toString('utf8');
  } catch {
    return raw.toString('utf8'); // HTTP-POST binding: not deflated
  }
}

function parseRoot(xml: string): Element | null {
  try {
    const doc = new DOMParser({ onError: () => {} }).parseFromString(xml, 'text/xml');
    return doc.documentElement ?? null;
  } catch {
    return null;
  }
}

function childText(el: Element, localName: string): string | undefined {
  const found = el.getElementsByTagNameNS(NS.assertion, localName).item(0);
  return found?.textContent?.trim() || undefined;
}

const instant = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export const oneLoginEmulator: ProviderEmulator = (app: Hono, ctx: SandboxContext) => {
  const { state } = ctx;
  const options = (ctx.options.providers?.onelogin ?? {}) as OneLoginEmulatorOptions;
  const material =
    options.privateKeyPem && options.certificatePem
      ? { privateKeyPem: options.privateKeyPem, certificatePem: options.certificatePem }
      : generateSigningMaterial('OneLogin Account (sandbox)');
  const store = () => state.store<OneLoginStore>('onelogin', () => ({ apps: new Map(Object.entries(options.apps ?? {})) }));

  const origin = () => ctx.origin();
  const idp: OneLoginIdp = {
    ...material,
    entityId: (appId) => `${origin()}/onelogin/saml/metadata/${appId}`,
    ssoUrl: (appId) => `${origin()}/onelogin/trust/saml2/http-post/sso/${appId}`,
    sloUrl: (appId) => `${origin()}/onelogin/trust/saml2/http-redirect/slo/${appId}`,
    metadataUrl: (appId) => `${origin()}/onelogin/saml/metadata/${appId}`,
    buildResponse: (spec, signing = {}) => buildSamlResponse(spec, { ...material, ...signing }),
    attributesFor: (account) => {
      const [first, ...last] = account.name.split(' ');
      return {
        'User.email': account.email,
        'User.FirstName': first ?? '',
        'User.LastName': last.join(' '),
        memberOf: [],
        ...(account.attributes ?? {}),
      };
    },
  };
  idps.set(state, idp);

  const record = (c: Context, account: string | null, status = 200) =>
    state.record({ provider: 'onelogin', account, method: c.req.method, path: c.req.path, status, write: false });

  app.get('/onelogin/saml/metadata/:appId', async (c) => {
    const fault = await applyFaults(c, state, { provider: 'onelogin', account: null });
    if (fault) return fault;
    const appId = c.req.param('appId');
    record(c, null);
    c.header('content-type', 'text/xml; charset=utf-8');
    return c.body(
      `<?xml version="1.0"?>\n<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${escapeXml(idp.entityId(appId))}">` +
        `<IDPSSODescriptor xmlns:ds="${NS.dsig}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
        `<KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(material.certificatePem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>` +
        `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(idp.sloUrl(appId))}"/>` +
        `<NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>` +
        `<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(idp.ssoUrl(appId))}"/>` +
        `<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(idp.ssoUrl(appId))}"/>` +
        `</IDPSSODescriptor></EntityDescriptor>`,
    );
  });

  const sso = async (c: Context) => {
    const appId = c.req.param('appId')!;
    const params: Record<string, string> = { ...c.req.query() };
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody();
      for (const [k, v] of Object.entries(form)) if (typeof v === 'string') params[k] = v;
    }
    const registered = store().apps.get(appId) ?? {};
    let acsUrl = params.acs ?? registered.acsUrl;
    let audience = params.audience ?? registered.audience;
    let requestId: string | undefined;
    if (params.SAMLRequest) {
      const root = parseRoot(decodeSamlMessage(params.SAMLRequest));
      if (root?.localName !== 'AuthnRequest' || !root.getAttribute('ID')) {
        return c.html('<!doctype html><p>Invalid SAMLRequest</p>', 400);
      }
      requestId = root.getAttribute('ID')!;
      acsUrl = root.getAttribute('AssertionConsumerServiceURL') || registered.acsUrl;
      audience = childText(root, 'Issuer') ?? audience;
    }
    if (!acsUrl || !audience) {
      return c.html('<!doctype html><p>This app has no ACS URL or audience configured (send a SAMLRequest, or register the app).</p>', 400);
    }
    const action = new URL(c.req.url).pathname;
    const pickerFields = { SAMLRequest: params.SAMLRequest, RelayState: params.RelayState, acs: params.acs, audience: params.audience };
    const account = params.user ? state.accounts.get(params.user.toLowerCase()) : undefined;
    if (!account) {
      return c.html(
        accountPickerPage({
          action,
          accounts: [...state.accounts.values()],
          fields: pickerFields,
          message: params.user ? `No OneLogin user ${params.user}` : undefined,
        }),
      );
    }
    const email = account.email.toLowerCase();
    const fault = await applyFaults(c, state, { provider: 'onelogin', account: email });
    if (fault) return fault;
    const xml = idp.buildResponse({
      issuer: idp.entityId(appId),
      acsUrl,
      audience,
      inResponseTo: requestId,
      nameId: account.email,
      attributes: idp.attributesFor(account),
    });
    record(c, email);
    return c.html(autoPostForm(acsUrl, { SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: params.RelayState }));
  };
  app.get('/onelogin/trust/saml2/http-post/sso/:appId', sso);
  app.post('/onelogin/trust/saml2/http-post/sso/:appId', sso);

  app.get('/onelogin/trust/saml2/http-redirect/slo/:appId', async (c) => {
    const appId = c.req.param('appId');
    const q = c.req.query();
    const root = q.SAMLRequest ? parseRoot(decodeSamlMessage(q.SAMLRequest)) : null;
    if (root?.localName !== 'LogoutRequest' || !root.getAttribute('ID')) {
      return c.html('<!doctype html><p>Invalid SAMLRequest</p>', 400);
    }
    const nameId = childText(root, 'NameID') ?? null;
    const spIssuer = childText(root, 'Issuer');
    const fault = await applyFaults(c, state, { provider: 'onelogin', account: nameId?.toLowerCase() ?? null });
    if (fault) return fault;
    const sloUrl = store().apps.get(appId)?.sloUrl ?? (spIssuer ? await sloUrlFromMetadata(spIssuer) : undefined);
    record(c, nameId?.toLowerCase() ?? null, sloUrl ? 302 : 200);
    if (!sloUrl) return c.html('<!doctype html><h1>You have been logged out of OneLogin</h1>');
    const response =
      `<samlp:LogoutResponse xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${samlId()}" Version="2.0" IssueInstant="${instant()}"` +
      ` Destination="${escapeXml(sloUrl)}" InResponseTo="${escapeXml(root.getAttribute('ID')!)}">` +
      `<saml:Issuer>${escapeXml(idp.entityId(appId))}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`;
    return c.redirect(redirectBindingUrl({ url: sloUrl, key: material.privateKeyPem, message: { SAMLResponse: response }, relayState: q.RelayState }), 302);
  });

  // --- Test-only knobs ---
  app.post('/_sandbox/onelogin/apps/:appId', async (c) => {
    const body = (await c.req.json().catch(() => null)) as OneLoginApp | null;
    if (!body || typeof body !== 'object') return c.json({ error: 'expected a JSON object' }, 400);
    store().apps.set(c.req.param('appId'), body);
    return c.json({ app: body }, 201);
  });
  app.get('/_sandbox/onelogin/certificate', (c) => c.json({ certificatePem: material.certificatePem }));
};

/** HTTP-Redirect binding: deflated, base64 message plus an RSA-SHA256 query signature. */
export function redirectBindingUrl(params: {
  url: string;
  key: string;
  message: { SAMLRequest: string } | { SAMLResponse: string };
  relayState?: string;
}): string {
  const [name, xml] = Object.entries(params.message)[0] as [string, string];
  const sigAlg = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
  let query = `${name}=${encodeURIComponent(deflateRawSync(Buffer.from(xml)).toString('base64'))}`;
  if (params.relayState) query += `&RelayState=${encodeURIComponent(params.relayState)}`;
  query += `&SigAlg=${encodeURIComponent(sigAlg)}`;
  const signature = createSign('RSA-SHA256').update(query).sign(params.key, 'base64');
  const url = new URL(params.url);
  return `${url.origin}${url.pathname}?${url.search ? `${url.search.slice(1)}&` : ''}${query}&Signature=${encodeURIComponent(signature)}`;
}

/** Reads the SP's SingleLogoutService from its metadata when the entity id is a metadata URL. */
async function sloUrlFromMetadata(entityId: string): Promise<string | undefined> {
  if (!/^https?:\/\//.test(entityId)) return undefined;
  try {
    const res = await fetch(entityId, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const root = parseRoot(await res.text());
    const slo = root?.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:metadata', 'SingleLogoutService').item(0);
    return slo?.getAttribute('Location') ?? undefined;
  } catch {
    return undefined;
  }
}
