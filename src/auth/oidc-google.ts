import { AsyncLocalStorage } from 'node:async_hooks';
import * as oidc from 'openid-client';
import type { Config } from '../config/load.ts';
import { SignInError } from './sign-in-error.ts';

/**
 * Google Sign-In: OpenID Connect authorization code flow with PKCE (S256), state and nonce, through
 * openid-client. The library checks the ID token's signature against the JWKS (non-repudiation
 * checks on, so an unsigned or foreign-key token is refused even from the token endpoint), issuer,
 * audience, expiry and nonce; `email_verified` and the Workspace domain are checked here and by the
 * organization policy (`identities.ts`).
 *
 * Issuer forms: Google's ID tokens carry `iss` `https://accounts.google.com` or, for some clients,
 * `accounts.google.com` (OpenID Connect reference). openid-client accepts only the discovered form,
 * so a token refused for the legacy spelling alone is validated again, completely (signature,
 * audience, nonce, times), against a copy of the configuration that names the legacy form — with the
 * token response already received replayed (the code works once). Either way the identity is stored
 * under the one discovered issuer. The `iss` parameter Google appends to the redirect is checked
 * against the discovered issuer by openid-client.
 */

/** Google's issuer without its scheme: the legacy spelling some ID tokens carry. */
export function legacyIssuerForm(issuer: string): string {
  return issuer.replace(/^https?:\/\//, '');
}

/** The token endpoint answer of the sign-in in progress (for a replay under the legacy issuer). */
const tokenResponses = new AsyncLocalStorage<{ tokenEndpoint: string; response?: Response }>();

/** A fetch that keeps a copy of the token endpoint's answer for the sign-in in progress. */
const capturingFetch = async (url: string, init: RequestInit): Promise<Response> => {
  const res = await fetch(url, init);
  const sink = tokenResponses.getStore();
  if (sink && url === sink.tokenEndpoint && !sink.response) sink.response = res.clone();
  return res;
};

/** A fetch that answers the token endpoint with the captured response instead of calling it again. */
const replayingFetch = async (url: string, init: RequestInit): Promise<Response> => {
  const sink = tokenResponses.getStore();
  if (sink?.response && url === sink.tokenEndpoint) return sink.response.clone();
  return fetch(url, init);
};

/** The sandbox's registered OAuth client (see sandbox/google/oauth.ts). */
const SANDBOX_CLIENT = { clientId: 'casebridge-sandbox-client', clientSecret: 'casebridge-sandbox-secret' };

/** Google OAuth client credentials: configured, or the sandbox's when SANDBOX_URL is set; else null. */
export function googleClientCredentials(config: Config): { clientId: string; clientSecret: string } | null {
  if (config.GOOGLE_CLIENT_ID && config.GOOGLE_CLIENT_SECRET) {
    return { clientId: config.GOOGLE_CLIENT_ID, clientSecret: config.GOOGLE_CLIENT_SECRET };
  }
  if (config.SANDBOX_URL && !config.GOOGLE_CLIENT_ID) return SANDBOX_CLIENT;
  return null;
}

/** What a started sign-in must remember until the callback (kept server-side, see PreLoginStore). */
export interface GooglePreLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
  organizationHint?: string;
  returnTo: string;
  /** Set when the sign-in was started from a sign-in link (sign-in-links.ts): the link's id. */
  signInLinkId?: string;
}

/** The verified facts of a Google login. */
export interface GoogleLogin {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  hd: string | null;
  name: string | null;
  picture: string | null;
  claimNames: string[];
}

export const GOOGLE_SCOPES = 'openid email profile';

/**
 * Clock skew allowed on ID-token times (openid-client's default tolerance for `exp`, stated here
 * so that `iat` is held to the same bound: the library checks `iat` only for being too old).
 */
export const ID_TOKEN_CLOCK_TOLERANCE_SECONDS = 30;

/**
 * One per process: discovery is fetched on first use and cached (a failed discovery is retried on
 * the next sign-in).
 */
export class GoogleSignIn {
  private configuration: Promise<oidc.Configuration> | null = null;
  private legacy: oidc.Configuration | null = null;

  constructor(private readonly config: Config) {}

  get redirectUri(): string {
    return `${this.config.PUBLIC_BASE_URL}/auth/google/callback`;
  }

  private credentials(): { clientId: string; clientSecret: string } {
    const creds = googleClientCredentials(this.config);
    if (!creds) {
      throw new SignInError('google_sign_in_not_configured', 'Google Sign-In is not configured (set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET)', {
        status: 503,
      });
    }
    return creds;
  }

  private async discover(): Promise<oidc.Configuration> {
    const { clientId, clientSecret } = this.credentials();
    if (!this.configuration) {
      const issuer = new URL(this.config.providers.googleOidcIssuer);
      // Plain HTTP only for a local issuer (the sandbox), never in production.
      const insecure = issuer.protocol === 'http:' && this.config.NODE_ENV !== 'production';
      this.configuration = oidc
        .discovery(
          issuer,
          clientId,
          { client_secret: clientSecret, id_token_signed_response_alg: 'RS256', [oidc.clockTolerance]: ID_TOKEN_CLOCK_TOLERANCE_SECONDS },
          oidc.ClientSecretPost(clientSecret),
          {
            execute: [...(insecure ? [oidc.allowInsecureRequests] : []), oidc.enableNonRepudiationChecks],
            timeout: 10,
            [oidc.customFetch]: capturingFetch,
          },
        )
        .catch((err: unknown) => {
          this.configuration = null;
          throw new SignInError('provider_unavailable', 'Google could not be reached; try again shortly', {
            status: 503,
            details: { message: err instanceof Error ? err.message : String(err) },
          });
        });
    }
    return this.configuration;
  }

  /** The same configuration naming the legacy issuer form (see the module comment). */
  private legacyConfiguration(primary: oidc.Configuration): oidc.Configuration {
    if (this.legacy) return this.legacy;
    const { clientId, clientSecret } = this.credentials();
    // serverMetadata() adds helper functions; the constructor structured-clones plain data only.
    const metadata = JSON.parse(JSON.stringify(primary.serverMetadata())) as oidc.ServerMetadata;
    const legacy = new oidc.Configuration(
      { ...metadata, issuer: legacyIssuerForm(metadata.issuer) },
      clientId,
      { client_secret: clientSecret, id_token_signed_response_alg: 'RS256', [oidc.clockTolerance]: ID_TOKEN_CLOCK_TOLERANCE_SECONDS },
      oidc.ClientSecretPost(clientSecret),
    );
    if (new URL(metadata.issuer).protocol === 'http:' && this.config.NODE_ENV !== 'production') oidc.allowInsecureRequests(legacy);
    oidc.enableNonRepudiationChecks(legacy);
    legacy.timeout = 10;
    legacy[oidc.customFetch] = replayingFetch;
    this.legacy = legacy;
    return legacy;
  }

  /**
   * The code grant, accepting both of Google's issuer spellings in the ID token. Only a refusal for
   * the legacy spelling (nothing else) is validated again, against the legacy configuration.
   */
  private async codeGrant(configuration: oidc.Configuration, callbackUrl: URL, preLogin: GooglePreLogin) {
    const checks = { pkceCodeVerifier: preLogin.codeVerifier, expectedState: preLogin.state, expectedNonce: preLogin.nonce, idTokenExpected: true };
    const tokenEndpoint = configuration.serverMetadata().token_endpoint!;
    return tokenResponses.run({ tokenEndpoint }, async () => {
      try {
        return await oidc.authorizationCodeGrant(configuration, callbackUrl, checks);
      } catch (err) {
        const legacyForm = legacyIssuerForm(configuration.serverMetadata().issuer);
        const refused = causes(err).find((e) => (e as { claim?: unknown }).claim === 'iss') as { claims?: { iss?: unknown } } | undefined;
        if (refused?.claims?.iss !== legacyForm || !tokenResponses.getStore()?.response) throw err;
        // The redirect's `iss` parameter was checked (https form) before the exchange; the replay
        // validates the token response only.
        const replayUrl = new URL(callbackUrl);
        replayUrl.searchParams.delete('iss');
        return oidc.authorizationCodeGrant(this.legacyConfiguration(configuration), replayUrl, checks);
      }
    });
  }

  /** Builds the authorization URL and the state to remember. */
  async start(params: {
    organizationHint?: string;
    returnTo: string;
    loginHint?: string;
    /** Workspace domain hint for Google's account chooser (the token's `hd` is still checked). */
    hd?: string;
  }): Promise<{ url: string; preLogin: GooglePreLogin }> {
    const configuration = await this.discover();
    const preLogin: GooglePreLogin = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
      returnTo: params.returnTo,
      ...(params.organizationHint ? { organizationHint: params.organizationHint } : {}),
    };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUri,
      scope: GOOGLE_SCOPES,
      response_type: 'code',
      state: preLogin.state,
      nonce: preLogin.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(preLogin.codeVerifier),
      code_challenge_method: 'S256',
      prompt: 'select_account',
      ...(params.loginHint ? { login_hint: params.loginHint } : {}),
      ...(params.hd ? { hd: params.hd } : {}),
    });
    return { url: url.toString(), preLogin };
  }

  /**
   * Completes the flow for the callback URL (built from PUBLIC_BASE_URL, never the Host header) and
   * the remembered state. Throws SignInError with a precise code for every refusal.
   */
  async callback(callbackUrl: URL, preLogin: GooglePreLogin | null): Promise<GoogleLogin> {
    if (!preLogin) {
      throw new SignInError('oidc_state_missing', 'the sign-in was not started from this browser or has expired; start again');
    }
    const returnedState = callbackUrl.searchParams.get('state');
    if (returnedState !== preLogin.state) {
      throw new SignInError('oidc_state_mismatch', 'the sign-in response does not belong to the sign-in this browser started');
    }
    const providerError = callbackUrl.searchParams.get('error');
    if (providerError) {
      throw new SignInError('oidc_authorization_denied', `Google did not authorize the sign-in (${providerError.slice(0, 64)})`);
    }
    const configuration = await this.discover();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await this.codeGrant(configuration, callbackUrl, preLogin);
    } catch (err) {
      throw classifyOidcError(err);
    }
    const claims = tokens.claims();
    if (!claims) throw new SignInError('oidc_token_invalid', 'Google returned no ID token');
    // A token "issued" in the future was minted by a wrong clock or for later use: refuse it.
    const nowSeconds = Math.floor(Date.now() / 1000);
    if (typeof claims.iat !== 'number' || claims.iat > nowSeconds + ID_TOKEN_CLOCK_TOLERANCE_SECONDS) {
      throw new SignInError('oidc_token_issued_in_future', 'the ID token claims to be issued in the future (beyond the allowed clock skew)', {
        details: { iat: claims.iat, now: nowSeconds, toleranceSeconds: ID_TOKEN_CLOCK_TOLERANCE_SECONDS },
      });
    }
    if (claims.email_verified !== true) {
      throw new SignInError('oidc_email_unverified', "the Google account's e-mail address is not verified", { status: 403 });
    }
    const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
    return {
      // One issuer for stored identities, whichever spelling the token used.
      issuer: configuration.serverMetadata().issuer,
      subject: claims.sub,
      email: str(claims.email),
      emailVerified: true,
      hd: str(claims.hd),
      name: str(claims.name),
      picture: str(claims.picture),
      claimNames: Object.keys(claims),
    };
  }
}

/** Walks an error's cause chain. */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) out.push(e);
  return out;
}

/** Maps openid-client / oauth4webapi failures to stable sign-in error codes. */
export function classifyOidcError(err: unknown): SignInError {
  const chain = causes(err);
  const codes = chain.map((e) => (e as { code?: unknown }).code).filter((c): c is string => typeof c === 'string');
  const messages = chain.map((e) => (e instanceof Error ? e.message : '')).join(' | ');
  const claim = chain.map((e) => (e as { claim?: unknown }).claim).find((c): c is string => typeof c === 'string');
  const details = { message: messages.slice(0, 300) };
  const bodyError = (err as { error?: unknown }).error;
  if (typeof bodyError === 'string') {
    // An OAuth error from the token endpoint (ResponseBodyError).
    if (bodyError === 'invalid_grant') {
      return new SignInError('oidc_code_rejected', 'Google refused the authorization code (already used or expired); start again', { details });
    }
    if (bodyError === 'invalid_client') {
      return new SignInError('google_client_rejected', "Google refused this deployment's OAuth client credentials", { status: 503, details });
    }
    return new SignInError('oidc_token_request_failed', `Google's token endpoint refused the request (${bodyError.slice(0, 64)})`, { details });
  }
  if (codes.includes('OAUTH_JWT_CLAIM_COMPARISON_FAILED')) {
    if (claim === 'nonce') return new SignInError('oidc_nonce_mismatch', 'the ID token was not issued for this sign-in (nonce mismatch)', { details });
    if (claim === 'iss') return new SignInError('oidc_issuer_mismatch', 'the ID token was issued by an unexpected issuer', { details });
    if (claim === 'aud' || claim === 'azp') return new SignInError('oidc_audience_mismatch', 'the ID token was issued for another application', { details });
    return new SignInError('oidc_token_invalid', 'the ID token failed validation', { details });
  }
  if (/unexpected "iss" \(issuer\) response parameter/.test(messages)) {
    return new SignInError('oidc_issuer_mismatch', 'the sign-in response names an unexpected issuer (iss parameter)', { details });
  }
  if (codes.includes('OAUTH_JWT_TIMESTAMP_CHECK_FAILED')) {
    if (claim === 'exp') return new SignInError('oidc_token_expired', 'the ID token has expired', { details });
    return new SignInError('oidc_token_invalid', 'the ID token is not valid at this time', { details });
  }
  if (codes.includes('OAUTH_KEY_SELECTION_FAILED') || /signature verification failed|"alg" header|unsupported JWS algorithm/i.test(messages)) {
    return new SignInError('oidc_signature_invalid', "the ID token is not signed by one of Google's published keys", { details });
  }
  if (err instanceof TypeError || codes.includes('OAUTH_RESPONSE_IS_NOT_CONFORM') || /fetch failed|timeout|aborted/i.test(messages)) {
    return new SignInError('provider_unavailable', 'Google could not be reached; try again shortly', { status: 503, details });
  }
  return new SignInError('oidc_token_invalid', 'the sign-in response failed validation', { details });
}
