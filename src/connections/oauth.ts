import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config/load.ts';
import type { RedisClient as Redis } from '../redis.ts';
import { redisKey, redisScript } from '../redis.ts';
import type { ConnectorOAuth, OAuthClient } from './oauth-types.ts';

/**
 * The OAuth 2.0 authorization-code flow for every OAuth connector, written once: PKCE (S256), a
 * `state` that is random, single use, valid 10 minutes and bound to the browser session that started
 * it (the callback must come back in the same session), kept server-side in Redis together with the
 * code verifier. Provider specifics (endpoint, scopes, extra parameters) come from the connector.
 */

export const STATE_TTL_SECONDS = 600;

/** What the callback needs, kept in Redis under the hashed state. */
export interface PendingAuthorization {
  connectionId: string;
  organizationId: string;
  userId: string;
  platform: string;
  /** SHA-256 of the session id that started the flow. */
  sessionHash: string;
  codeVerifier: string;
  redirectUri: string;
  purpose: 'connect' | 'reconnect';
  createdAt: number;
  /**
   * The connection (same user, platform and account) whose working refresh token this authorization
   * reuses: the consent screen was not forced, so the provider returns no new one.
   */
  reuseRefreshTokenOf?: string;
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');

function stateKey(prefix: string, state: string): string {
  // Hashed: a Redis dump does not hand out usable states.
  return redisKey(prefix, 'oauth-state', sha256(state));
}

/** The callback URL registered with every provider. */
export function callbackUrl(config: Pick<Config, 'PUBLIC_BASE_URL'>): string {
  return `${config.PUBLIC_BASE_URL}/v1/connections/oauth/callback`;
}

/** PKCE S256: the challenge for a verifier (RFC 7636 §4.2). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** Builds the authorization URL and stores the pending authorization. */
export async function startAuthorization(
  deps: { redis: Redis; config: Config },
  params: {
    oauth: ConnectorOAuth;
    settings: Record<string, unknown>;
    connectionId: string;
    organizationId: string;
    userId: string;
    platform: string;
    sessionId: string;
    purpose: PendingAuthorization['purpose'];
    loginHint?: string;
    /** A connection whose working refresh token is reused: the connector's `consentParams` are left out. */
    reuseRefreshTokenOf?: string | null;
    /** The organization's own client registration, when the platform has one. */
    client?: OAuthClient | null;
  },
): Promise<{ authorizationUrl: string; expiresAt: string }> {
  const state = randomBytes(32).toString('base64url');
  const codeVerifier = randomBytes(48).toString('base64url');
  const redirectUri = callbackUrl(deps.config);
  const pending: PendingAuthorization = {
    connectionId: params.connectionId,
    organizationId: params.organizationId,
    userId: params.userId,
    platform: params.platform,
    sessionHash: sha256(params.sessionId),
    codeVerifier,
    redirectUri,
    purpose: params.purpose,
    createdAt: Date.now(),
    ...(params.reuseRefreshTokenOf ? { reuseRefreshTokenOf: params.reuseRefreshTokenOf } : {}),
  };
  await deps.redis.set(stateKey(deps.config.REDIS_PREFIX, state), JSON.stringify(pending), 'EX', STATE_TTL_SECONDS);
  const url = new URL(params.oauth.authorizationEndpoint(deps.config, params.settings));
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', params.oauth.clientId(deps.config, params.settings, params.client));
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('scope', params.oauth.scopes(params.settings).join(' '));
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', pkceChallenge(codeVerifier));
  url.searchParams.set('code_challenge_method', 'S256');
  for (const [k, v] of Object.entries(params.oauth.extraAuthParams ?? {})) url.searchParams.set(k, v);
  if (!params.reuseRefreshTokenOf) for (const [k, v] of Object.entries(params.oauth.consentParams ?? {})) url.searchParams.set(k, v);
  if (params.loginHint && params.oauth.loginHintParam) url.searchParams.set(params.oauth.loginHintParam, params.loginHint);
  return { authorizationUrl: url.toString(), expiresAt: new Date(Date.now() + STATE_TTL_SECONDS * 1000).toISOString() };
}

export type ConsumeResult = { ok: true; pending: PendingAuthorization } | { ok: false; code: 'state_invalid' | 'state_session_mismatch'; message: string };

/**
 * Takes the pending authorization for `state` if, and only if, it was started by this session.
 *
 * KEYS[1] the state key; ARGV[1] SHA-256 of the calling session's id.
 * Returns the stored JSON (now deleted), `"mismatch"` (left in place), or nil (unknown / expired).
 */
const CONSUME_STATE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local ok, pending = pcall(cjson.decode, raw)
if not ok or type(pending) ~= 'table' or pending.sessionHash ~= ARGV[1] then return 'mismatch' end
redis.call('DEL', KEYS[1])
return raw
`;
const runConsumeState = redisScript(CONSUME_STATE);

/**
 * Takes the pending authorization for `state` (a state works once) when this session started it. A
 * callback arriving in another session is refused without consuming it: otherwise anyone who saw
 * the callback URL could cancel the owner's authorization. The check and the delete are one Lua
 * script, so two callbacks of the owner cannot both succeed.
 */
export async function consumeAuthorization(deps: { redis: Redis; config: Config }, params: { state: string; sessionId: string }): Promise<ConsumeResult> {
  const raw = (await runConsumeState(deps.redis, [stateKey(deps.config.REDIS_PREFIX, params.state)], [sha256(params.sessionId)])) as string | null;
  if (!raw) return { ok: false, code: 'state_invalid', message: 'this authorization link is unknown, expired or already used; start connecting again' };
  if (raw === 'mismatch') {
    return { ok: false, code: 'state_session_mismatch', message: 'this authorization was started in another session; continue in the session that started it' };
  }
  return { ok: true, pending: JSON.parse(raw) as PendingAuthorization };
}
