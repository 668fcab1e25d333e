import type { Db } from '../db/database.ts';
import type { Config } from '../config/load.ts';
import type { Logger } from '../observability/logger.ts';
import { redisKey } from '../redis.ts';
import type { Redis } from 'ioredis';
import { OAuthTokenError, type ConnectorOAuth } from './oauth-types.ts';
import { tryLock } from './redis-lock.ts';
import { parseKeyring, type StoredTokens, TokenVault } from './token-vault.ts';
import { CasebridgeError } from '../errors/index.ts';

/**
 * Access tokens for workers: read from the vault, refreshed ahead of expiry by exactly one process
 * at a time (Redis lock; the others wait briefly and re-read). A refresh answered `invalid_grant`
 * means the user must consent again: the connection goes to `reauth_required` and nothing retries.
 */

/** The user has to reconnect (refresh token revoked, expired, or missing). */
export class ReauthRequiredError extends CasebridgeError {
  constructor(message: string) {
    super('reauth_required', message);
  }
}

/** A refresh failed for a reason that may pass (network, 5xx, lock wait timed out). */
export class TokenRefreshError extends CasebridgeError {
  constructor(message: string) {
    super('token_refresh_failed', message);
  }
}

export interface TokenDeps {
  db: Db;
  redis: Redis;
  config: Config;
  logger: Logger;
}

const vaults = new WeakMap<Config, TokenVault>();

/** The process's vault for this configuration (keyring parsed once). */
export function vaultFor(deps: { db: Db; config: Config }): TokenVault {
  let v = vaults.get(deps.config);
  if (!v) {
    v = new TokenVault(deps.db, parseKeyring(deps.config.TOKEN_ENCRYPTION_KEYS));
    vaults.set(deps.config, v);
  }
  return v;
}

/** Refresh when less than this is left: 5 minutes, or a quarter of a short lifetime. */
export function refreshAheadMs(t: Pick<StoredTokens, 'expiresAt' | 'obtainedAt'>): number {
  if (t.expiresAt === null) return 0;
  const lifetime = Math.max(0, t.expiresAt - t.obtainedAt);
  return Math.min(5 * 60_000, Math.max(1000, lifetime / 4));
}

/** Whether a stored token should be refreshed now. */
export function needsRefresh(t: Pick<StoredTokens, 'expiresAt' | 'obtainedAt'>, now = Date.now()): boolean {
  return t.expiresAt !== null && t.expiresAt - now < refreshAheadMs(t);
}

export interface TokenAccess {
  /** A usable access token, refreshed ahead of expiry (single flight across processes). */
  get(connectionId: string): Promise<string>;
  /** After the provider rejected `stale` (401): refresh, unless another worker already replaced it. */
  refreshAfterRejection(connectionId: string, stale: string): Promise<string>;
  /** A usable token and when to ask again (the start of its refresh-ahead window), so long runs skip re-reading the vault. */
  lease(connectionId: string): Promise<{ accessToken: string; refreshAt: number }>;
}

export interface TokenAccessOptions {
  oauth: ConnectorOAuth;
  /** Called once when a refresh proves the grant is gone (moves the connection to reauth_required). */
  onReauthRequired(connectionId: string, message: string): Promise<void>;
  lockTtlMs?: number;
  /** How long a process waits for another one's refresh before giving up (transient). */
  waitMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createTokenAccess(deps: TokenDeps, options: TokenAccessOptions): TokenAccess {
  const vault = vaultFor(deps);
  const lockTtl = options.lockTtlMs ?? 20_000;
  const waitMs = options.waitMs ?? 15_000;

  const load = async (connectionId: string): Promise<StoredTokens> => {
    const t = await vault.load(connectionId);
    if (!t) throw new ReauthRequiredError('no stored tokens for this connection');
    return t;
  };

  /** Whether `t` is good enough for the caller: fresh, and not the token the provider just rejected. */
  const usable = (t: StoredTokens, stale: string | null) => !needsRefresh(t) && (stale === null || t.accessToken !== stale);

  const refreshUnderLock = async (connectionId: string, stale: string | null): Promise<string> => {
    const key = redisKey(deps.config.REDIS_PREFIX, 'token-refresh', connectionId);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const lock = await tryLock(deps.redis, key, lockTtl);
      if (lock) {
        try {
          // Re-read under the lock: the previous holder may have refreshed already.
          const t = await load(connectionId);
          if (usable(t, stale)) return t.accessToken;
          if (!t.refreshToken) {
            await options.onReauthRequired(connectionId, 'The provider gave Casebridge no refresh token. Reconnect the account.');
            throw new ReauthRequiredError('no refresh token');
          }
          let fresh: Awaited<ReturnType<ConnectorOAuth['refresh']>>;
          try {
            // The connection's settings: a per-organization server's token endpoint is built from them.
            const row = await deps.db.selectFrom('connections').select('settings').where('id', '=', connectionId).executeTakeFirst();
            fresh = await options.oauth.refresh(deps.config, { refreshToken: t.refreshToken, settings: row?.settings ?? {} });
          } catch (err) {
            if (err instanceof OAuthTokenError && (err.code === 'invalid_grant' || err.code === 'unauthorized_client')) {
              await options.onReauthRequired(connectionId, 'Access to the account was withdrawn or has expired. Reconnect the account to resume syncing.');
              throw new ReauthRequiredError(`token refresh refused: ${err.code}`);
            }
            throw new TokenRefreshError(err instanceof Error ? err.message : 'token refresh failed');
          }
          const now = Date.now();
          await vault.save(connectionId, {
            accessToken: fresh.accessToken,
            // Google does not resend the refresh token: keep the old one.
            refreshToken: fresh.refreshToken ?? t.refreshToken,
            expiresAt: fresh.expiresAt,
            obtainedAt: now,
            scope: fresh.scope ?? t.scope,
          });
          deps.logger.info({ connectionId }, 'access token refreshed');
          return fresh.accessToken;
        } finally {
          await lock.release().catch(() => false);
        }
      }
      // Someone else is refreshing: wait for their result instead of refreshing again.
      while (Date.now() < deadline) {
        await sleep(100);
        const t = await load(connectionId);
        if (usable(t, stale)) return t.accessToken;
        if (!(await deps.redis.exists(key))) break; // lock released without a usable token: try ourselves
      }
      if (Date.now() >= deadline) throw new TokenRefreshError('timed out waiting for another worker to refresh the token');
    }
  };

  return {
    async get(connectionId) {
      const t = await load(connectionId);
      if (!needsRefresh(t)) return t.accessToken;
      return refreshUnderLock(connectionId, null);
    },
    async lease(connectionId) {
      let t = await load(connectionId);
      if (needsRefresh(t)) {
        await refreshUnderLock(connectionId, null);
        t = await load(connectionId);
      }
      return { accessToken: t.accessToken, refreshAt: t.expiresAt === null ? Number.POSITIVE_INFINITY : t.expiresAt - refreshAheadMs(t) };
    },
    async refreshAfterRejection(connectionId, stale) {
      const t = await load(connectionId);
      if (t.accessToken !== stale && !needsRefresh(t)) return t.accessToken;
      return refreshUnderLock(connectionId, stale);
    },
  };
}
