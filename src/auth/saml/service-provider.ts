import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { generateServiceProviderMetadata, type Profile, SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { getVerifiedXml } from '@node-saml/node-saml/lib/xml.js';
import type { Config } from '../../config/load.ts';
import type { Services } from '../../services.ts';
import type { ExternalLogin } from '../identities.ts';
import { PRE_LOGIN_TTL_SECONDS, PreLoginStore } from '../pre-login.ts';
import type { SessionData } from '../sessions.ts';
import { SignInError } from '../sign-in-error.ts';
import { classifyNodeSamlError } from './errors.ts';
import { loadSamlIdpConfig, type SamlIdpConfig } from './idp-config.ts';
import { RedisSamlRequestCache, SamlLogoutReplayCache, SamlReplayCache } from './redis-cache.ts';
import { checkVerifiedResponse, parseStrict, precheckSamlResponse, readVerifiedResponse } from './response-checks.ts';

/**
 * Casebridge as a SAML service provider, one per organization, on @node-saml/node-saml: SP metadata,
 * SP-initiated login (`validateInResponseTo: 'always'` with the request ids in Redis), the ACS
 * (node-saml's signature, audience, time and InResponseTo checks, then ours: issuer,
 * destination, recipient, replay cache, RelayState bound to the browser), and single logout.
 */

const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const MAX_RESPONSE_BYTES = 512 * 1024;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** The SP's URLs for an organization (entity id = metadata URL, as OneLogin expects). */
export function samlSpUrls(config: Config, organizationId: string) {
  const base = `${config.PUBLIC_BASE_URL}/auth/saml/${organizationId}`;
  return { entityId: `${base}/metadata`, metadataUrl: `${base}/metadata`, acsUrl: `${base}/acs`, sloUrl: `${base}/slo`, loginUrl: `${base}/login` };
}

/** What the SP-initiated login remembers until the ACS (bound to the browser by a cookie). */
interface SamlPreLogin {
  organizationId: string;
  requestId: string;
  returnTo: string;
  /** Set when the sign-in was started from a sign-in link (sign-in-links.ts): the link's id. */
  signInLinkId?: string;
}

/** A validated SAML login, ready for identity resolution. */
export interface SamlLogin {
  login: ExternalLogin;
  saml: NonNullable<SessionData['saml']>;
  returnTo: string;
  /** The sign-in link this SP-initiated sign-in was started from, if any. */
  signInLinkId?: string;
}

export class SamlServiceProvider {
  private readonly preLogins: PreLoginStore;
  private readonly replay: SamlReplayCache;
  private readonly logoutReplay: SamlLogoutReplayCache;

  constructor(private readonly services: Services) {
    this.preLogins = new PreLoginStore(services.redis, services.config.REDIS_PREFIX);
    this.replay = new SamlReplayCache(services.redis, services.config.REDIS_PREFIX);
    this.logoutReplay = new SamlLogoutReplayCache(services.redis, services.config.REDIS_PREFIX);
  }

  get skewMs(): number {
    return this.services.config.SAML_CLOCK_SKEW_SECONDS * 1000;
  }

  private saml(idp: SamlIdpConfig, mode: 'sp' | 'idp', requestId?: string): SAML {
    const urls = samlSpUrls(this.services.config, idp.organizationId);
    return new SAML({
      callbackUrl: urls.acsUrl,
      issuer: urls.entityId,
      audience: urls.entityId,
      entryPoint: idp.ssoUrl,
      ...(idp.sloUrl ? { logoutUrl: idp.sloUrl } : {}),
      logoutCallbackUrl: urls.sloUrl,
      idpCert: idp.certificates,
      idpIssuer: idp.entityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: true,
      signatureAlgorithm: 'sha256',
      acceptedClockSkewMs: this.skewMs,
      validateInResponseTo: mode === 'sp' ? ValidateInResponseTo.always : ValidateInResponseTo.never,
      requestIdExpirationPeriodMs: PRE_LOGIN_TTL_SECONDS * 1000,
      cacheProvider: new RedisSamlRequestCache(this.services.redis, this.services.config.REDIS_PREFIX, idp.organizationId, PRE_LOGIN_TTL_SECONDS),
      identifierFormat: NAMEID_EMAIL,
      // OneLogin (and IdPs with MFA) may answer a stronger context than PasswordProtectedTransport.
      disableRequestedAuthnContext: true,
      ...(requestId ? { generateUniqueId: () => requestId } : {}),
    });
  }

  private async idpConfig(organizationId: string): Promise<SamlIdpConfig> {
    const idp = await loadSamlIdpConfig(this.services.db, organizationId);
    if (!idp) {
      throw new SignInError('saml_not_configured', 'this organization has no SAML identity provider configured', {
        status: 400,
        organizationId,
      });
    }
    return idp;
  }

  /** SP metadata (available before the IdP is configured: the IdP admin needs it first). */
  metadata(organizationId: string): string {
    const urls = samlSpUrls(this.services.config, organizationId);
    return generateServiceProviderMetadata({
      issuer: urls.entityId,
      callbackUrl: urls.acsUrl,
      logoutCallbackUrl: urls.sloUrl,
      identifierFormat: NAMEID_EMAIL,
      wantAssertionsSigned: true,
    });
  }

  /** Starts an SP-initiated login: the IdP URL and the handle the browser's cookie must carry. */
  async startLogin(organizationId: string, returnTo: string, options: { signInLinkId?: string } = {}): Promise<{ url: string; handle: string }> {
    const idp = await this.idpConfig(organizationId);
    const requestId = `_${randomBytes(20).toString('hex')}`;
    const handle = await this.preLogins.save<SamlPreLogin>('saml', {
      organizationId,
      requestId,
      returnTo,
      ...(options.signInLinkId ? { signInLinkId: options.signInLinkId } : {}),
    });
    const url = await this.saml(idp, 'sp', requestId).getAuthorizeUrlAsync(handle, undefined, {});
    return { url, handle };
  }

  /** Validates a posted SAMLResponse end to end. Throws SignInError with a precise code. */
  async consume(params: {
    organizationId: string;
    samlResponse: string | undefined;
    relayState: string | undefined;
    cookieHandle: string | undefined;
  }): Promise<SamlLogin> {
    const { organizationId } = params;
    const idp = await this.idpConfig(organizationId);
    const fail = (code: string, message: string, status: 400 | 401 | 403 = 401) => new SignInError(code, message, { status, organizationId });
    if (!params.samlResponse) throw fail('saml_response_missing', 'no SAMLResponse was posted', 400);
    if (params.samlResponse.length > MAX_RESPONSE_BYTES) throw fail('saml_response_too_large', 'the SAMLResponse is too large', 400);
    if (!/^[A-Za-z0-9+/=\s]+$/.test(params.samlResponse)) throw fail('saml_response_malformed', 'the SAMLResponse is not base64', 400);
    const xml = Buffer.from(params.samlResponse, 'base64').toString('utf8');

    let precheck: ReturnType<typeof precheckSamlResponse>;
    try {
      precheck = precheckSamlResponse(xml);
    } catch (err) {
      if (err instanceof SignInError) throw new SignInError(err.code, err.message, { ...err.options, organizationId });
      throw err;
    }
    for (const id of precheck.assertionIds) {
      if (await this.replay.seen(organizationId, id)) throw fail('saml_replay', 'this assertion was already used to sign in');
    }
    const spInitiated = precheck.inResponseTo !== null;
    if (!spInitiated && !idp.allowIdpInitiated) {
      throw fail('saml_idp_initiated_not_allowed', 'this organization accepts only sign-ins started here (IdP-initiated SAML is off)', 403);
    }

    const saml = this.saml(idp, spInitiated ? 'sp' : 'idp');
    let profile: Profile | null;
    try {
      ({ profile } = await saml.validatePostResponseAsync({ SAMLResponse: params.samlResponse }));
    } catch (err) {
      throw classifyNodeSamlError(err, { precheck, skewMs: this.skewMs, organizationId });
    }
    if (!profile) throw fail('saml_assertion_missing', 'the response carries no login');

    // node-saml verified the signed Response; read our facts from exactly those verified bytes.
    const verified = getVerifiedXml(xml, parseStrict(xml).documentElement! as never, idp.certificates);
    if (!verified) throw fail('saml_signature_invalid', 'the SAML response signature does not verify');
    const facts = readVerifiedResponse(verified);
    const profileAssertionId = (profile.getAssertion?.() as { Assertion?: { $?: { ID?: string } } } | undefined)?.Assertion?.$?.ID;
    if (!profileAssertionId || profileAssertionId !== facts.assertionId || profile.nameID?.trim() !== facts.nameId) {
      throw fail('saml_signature_invalid', 'the validated assertion is not the one in the signed response');
    }
    const urls = samlSpUrls(this.services.config, organizationId);
    checkVerifiedResponse(facts, { idpEntityId: idp.entityId, acsUrl: urls.acsUrl, organizationId });

    let returnTo = '/';
    let signInLinkId: string | undefined;
    if (spInitiated) {
      // The response must answer the request this browser started (login CSRF): RelayState is the
      // pre-login handle, the same value as the browser's cookie, and names the request id.
      const relay = await this.preLogins.take<SamlPreLogin>('saml', params.relayState);
      if (
        !relay ||
        !params.cookieHandle ||
        params.cookieHandle !== params.relayState ||
        relay.organizationId !== organizationId ||
        relay.requestId !== facts.inResponseTo
      ) {
        throw fail('saml_relay_state_mismatch', 'the response does not belong to a sign-in started in this browser');
      }
      returnTo = relay.returnTo;
      signInLinkId = relay.signInLinkId;
    }
    if (!(await this.replay.claim(organizationId, facts.assertionId, facts.notOnOrAfterMs! + this.skewMs))) {
      throw fail('saml_replay', 'this assertion was already used to sign in');
    }

    const first = (name: string | undefined) => (name ? facts.attributes[name]?.[0]?.trim() || null : null);
    const mapping = idp.attributeMapping;
    const attributeEmail = first(mapping.email);
    const email = attributeEmail && EMAIL.test(attributeEmail) ? attributeEmail : EMAIL.test(facts.nameId) ? facts.nameId : null;
    const fullName = first(mapping.name) ?? ([first(mapping.firstName), first(mapping.lastName)].filter(Boolean).join(' ') || null);
    return {
      login: {
        provider: 'saml',
        issuer: idp.entityId,
        subject: facts.nameId,
        email,
        name: fullName,
        picture: null,
        receivedAttributes: ['NameID', ...Object.keys(facts.attributes)],
      },
      saml: {
        nameId: facts.nameId,
        ...(facts.nameIdFormat ? { nameIdFormat: facts.nameIdFormat } : {}),
        ...(facts.sessionIndex ? { sessionIndex: facts.sessionIndex } : {}),
      },
      returnTo,
      ...(signInLinkId ? { signInLinkId } : {}),
    };
  }

  /** The IdP single-logout URL for a SAML session, or null when the IdP has no SLO URL. */
  async logoutUrl(organizationId: string, saml: NonNullable<SessionData['saml']>): Promise<string | null> {
    const idp = await loadSamlIdpConfig(this.services.db, organizationId);
    if (!idp?.sloUrl) return null;
    const user = {
      issuer: idp.entityId,
      nameID: saml.nameId,
      nameIDFormat: saml.nameIdFormat ?? NAMEID_EMAIL,
      ...(saml.sessionIndex ? { sessionIndex: saml.sessionIndex } : {}),
    } as Profile;
    return this.saml(idp, 'sp').getLogoutUrlAsync(user, '', {});
  }

  /**
   * The IdP's answer on the SLO endpoint (HTTP-Redirect): a LogoutResponse to our request, or an
   * IdP-initiated LogoutRequest (which must be signed). A LogoutRequest is accepted once (replay
   * cache by its ID) and only within its time window: IssueInstant no older than
   * LOGOUT_REQUEST_MAX_AGE_MS and not in the future, NotOnOrAfter (when given) not passed, each
   * give or take the clock skew. For a request, returns who to log out and the URL of our
   * LogoutResponse — null when the IdP has no SLO URL (node-saml would otherwise fall back to the
   * IdP's sign-in URL).
   */
  async handleSlo(
    organizationId: string,
    query: Record<string, string>,
    rawQuery: string,
  ): Promise<{ kind: 'response' } | { kind: 'request'; nameId: string; sessionIndex?: string; responseUrl: string | null }> {
    const idp = await this.idpConfig(organizationId);
    const fail = (message: string, code = 'saml_logout_invalid') => new SignInError(code, message, { status: 400, organizationId });
    if (!query.SAMLResponse && !query.SAMLRequest) throw fail('no SAML logout message');
    if (query.SAMLRequest && !query.Signature) throw fail('an IdP-initiated logout request must be signed');
    const saml = this.saml(idp, 'sp');
    let result: Awaited<ReturnType<SAML['validateRedirectAsync']>>;
    try {
      result = await saml.validateRedirectAsync(query, rawQuery);
    } catch (err) {
      throw new SignInError('saml_logout_invalid', 'the SAML logout message failed validation', {
        status: 400,
        organizationId,
        details: { message: err instanceof Error ? err.message.slice(0, 300) : String(err) },
      });
    }
    if (!result.profile) return { kind: 'response' };

    // The query signature covers the deflated message, so these facts are the IdP's.
    const times = readLogoutRequestTimes(query.SAMLRequest!);
    if (!times || times.id !== result.profile.ID) throw fail('the logout request has no readable ID or IssueInstant');
    const now = Date.now();
    const expiresAt = Math.min(times.issueInstantMs + LOGOUT_REQUEST_MAX_AGE_MS, times.notOnOrAfterMs ?? Number.POSITIVE_INFINITY);
    if (times.issueInstantMs > now + this.skewMs || expiresAt <= now - this.skewMs) {
      throw fail('the logout request is outside its validity window (too old, or issued in the future)', 'saml_logout_stale');
    }
    if (!(await this.logoutReplay.claim(organizationId, times.id, expiresAt + this.skewMs))) {
      throw fail('this logout request was already used', 'saml_logout_replay');
    }
    const responseUrl = idp.sloUrl ? await saml.getLogoutResponseUrlAsync(result.profile, query.RelayState ?? '', {}, true) : null;
    return {
      kind: 'request',
      nameId: result.profile.nameID,
      ...(result.profile.sessionIndex ? { sessionIndex: result.profile.sessionIndex } : {}),
      responseUrl,
    };
  }
}

/** How long after its IssueInstant an IdP-initiated LogoutRequest is accepted (IdPs send it at once). */
export const LOGOUT_REQUEST_MAX_AGE_MS = 5 * 60_000;

/** ID, IssueInstant and NotOnOrAfter of a (redirect-binding) LogoutRequest; null when unreadable. */
function readLogoutRequestTimes(samlRequest: string): { id: string; issueInstantMs: number; notOnOrAfterMs: number | null } | null {
  try {
    const root = parseStrict(inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8')).documentElement;
    const id = root?.getAttribute('ID');
    const issueInstantMs = Date.parse(root?.getAttribute('IssueInstant') ?? '');
    const notOnOrAfter = root?.getAttribute('NotOnOrAfter');
    if (!id || !Number.isFinite(issueInstantMs)) return null;
    const notOnOrAfterMs = notOnOrAfter ? Date.parse(notOnOrAfter) : null;
    if (notOnOrAfterMs !== null && !Number.isFinite(notOnOrAfterMs)) return null;
    return { id, issueInstantMs, notOnOrAfterMs };
  } catch {
    return null;
  }
}

const providers = new WeakMap<Services, SamlServiceProvider>();

/** The process's service provider (one per Services). */
export function samlServiceProvider(services: Services): SamlServiceProvider {
  let sp = providers.get(services);
  if (!sp) {
    sp = new SamlServiceProvider(services);
    providers.set(services, sp);
  }
  return sp;
}
