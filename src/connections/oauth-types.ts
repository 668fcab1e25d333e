import type { Config } from '../config/load.ts';
import type { Db } from '../db/database.ts';
import { CasebridgeError } from '../errors/index.ts';

/**
 * The provider-neutral OAuth 2.0 pieces: what a token set looks like, how a token endpoint fails,
 * and what a connector declares so the one generic flow in `oauth.ts` / `service.ts` can connect it.
 */

/** Tokens as the vault stores them (times in epoch milliseconds). */
export interface TokenSet {
  accessToken: string;
  /** Null when the provider sent none (Google on refresh): the caller keeps the old one. */
  refreshToken: string | null;
  expiresAt: number | null;
  scope: string | null;
  /** Only on the code exchange; read for the account e-mail, never stored. */
  idToken?: string | null;
}

/** A token endpoint error (`invalid_grant`, `invalid_client`...) or a network failure. */
export class OAuthTokenError extends CasebridgeError {
  constructor(
    /** OAuth error code (`invalid_grant`) or `network_error` / `http_<status>` / `invalid_response`. */
    code: string,
    /** The provider token endpoint's HTTP status (not ours), when it answered. */
    readonly status: number | null,
    message: string,
  ) {
    super(code, message);
  }
}

/** An OAuth client registration: the deployment's (configuration) or one an organization registered itself. */
export interface OAuthClient {
  clientId: string;
  clientSecret: string;
}

/** What an OAuth connector declares; the flow, PKCE, state, vault and refresh are generic. */
export interface ConnectorOAuth {
  /**
   * `settings` are the connection's: a platform whose server is chosen per organization (the firm's
   * own host) builds its endpoints from them; others ignore them.
   */
  authorizationEndpoint(config: Config, settings?: Record<string, unknown>): string;
  /** `client`: the organization's own registration, when it has one (see `organizationClient`). */
  clientId(config: Config, settings?: Record<string, unknown>, client?: OAuthClient | null): string;
  /**
   * The client an organization registered itself (a firm's own server has its own registrations);
   * null → the deployment's configuration. Read before every authorize, exchange and refresh.
   */
  organizationClient?(deps: { db: Db; config: Config }, organizationId: string): Promise<OAuthClient | null>;
  /** The narrowest scopes the connection's settings need (plus identity scopes for the account). */
  scopes(settings: Record<string, unknown>): string[];
  /** Extra authorization parameters, e.g. `access_type=offline`. */
  extraAuthParams?: Record<string, string>;
  /**
   * Parameters that force the provider's consent screen, which mints a new refresh token (Google:
   * `prompt=consent`). Declared by providers that keep one grant per client and account and hand
   * out a refresh token only on consent: they are sent on a first connect and whenever no working
   * refresh token of the same account can be reused, and left out when one can (the provider then
   * returns none, and the connection takes the working one). A connection never ends up without one.
   */
  consentParams?: Record<string, string>;
  /** Name of the login hint parameter (`login_hint` for Google). */
  loginHintParam?: string;
  exchangeCode(
    config: Config,
    params: { code: string; codeVerifier: string; redirectUri: string; settings?: Record<string, unknown>; client?: OAuthClient | null },
  ): Promise<TokenSet>;
  refresh(config: Config, params: { refreshToken: string; settings?: Record<string, unknown>; client?: OAuthClient | null }): Promise<TokenSet>;
  /** Provider-side revocation of a token, if the provider offers it. */
  revokeToken?(config: Config, params: { token: string }): Promise<{ status: number }>;
  /**
   * Checks the scopes the user actually granted (providers with granular consent let users untick
   * some): null when the connection can work, else a code and a message for the user. Tokens of a
   * refused grant are not stored.
   */
  checkGrant?(tokens: TokenSet, settings: Record<string, unknown>): { code: string; message: string } | null;
  /** The external account (e-mail) from the token response, e.g. from the ID token. */
  accountFromTokens?(tokens: TokenSet): string | null;
}

/** Reads the (unverified) claims of a JWT. Used only on ID tokens received directly from the token endpoint over TLS (OIDC Core 3.1.3.7). */
export function jwtClaims(token: string | null | undefined): Record<string, unknown> | null {
  if (!token) return null;
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
