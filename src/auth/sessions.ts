import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Redis } from 'ioredis';
import { ApiError } from '../api/errors.ts';
import type { AppEnv } from '../api/env.ts';
import { redisKey } from '../redis.ts';

export const SESSION_COOKIE = 'cb_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionData {
  userId: string;
  organizationId: string;
  role: 'member' | 'admin';
  csrfToken: string;
  /** How the user signed in: 'google', 'saml:<orgId>', 'test'. */
  method: string;
  /** The identity the user signed in with (so unlinking it ends the sessions it opened). */
  identityId?: string;
  /** For SAML single logout. */
  saml?: { nameId: string; nameIdFormat?: string; sessionIndex?: string };
  createdAt: number;
  lastSeenAt: number;
  absoluteExpiresAt: number;
  ip?: string;
  userAgent?: string;
}

export interface SessionPolicy {
  idleSeconds: number;
  absoluteSeconds: number;
}

/**
 * Sessions in Redis. The cookie carries a random 256-bit id; Redis keys use its SHA-256 so a dump of
 * Redis does not hand out live cookies. Idle timeout = key TTL, refreshed on use; absolute timeout
 * stored in the session.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly policy: SessionPolicy,
  ) {}

  private key(id: string): string {
    return redisKey(this.prefix, 'session', createHash('sha256').update(id).digest('hex'));
  }

  private userIndex(userId: string): string {
    return redisKey(this.prefix, 'user-sessions', userId);
  }

  /** Creates a new session (always a new id: no fixation) and returns its id. */
  async create(
    data: Omit<SessionData, 'csrfToken' | 'createdAt' | 'lastSeenAt' | 'absoluteExpiresAt'>,
  ): Promise<{ id: string; session: SessionData }> {
    const id = randomBytes(32).toString('base64url');
    const now = Date.now();
    const session: SessionData = {
      ...data,
      csrfToken: randomBytes(24).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      absoluteExpiresAt: now + this.policy.absoluteSeconds * 1000,
    };
    const hashed = this.key(id);
    await this.redis
      .multi()
      .set(hashed, JSON.stringify(session), 'EX', this.policy.idleSeconds)
      .sadd(this.userIndex(data.userId), hashed)
      .expire(this.userIndex(data.userId), this.policy.absoluteSeconds)
      .exec();
    return { id, session };
  }

  /** Loads a live session and slides its idle timeout; null when unknown or expired. */
  async touch(id: string): Promise<SessionData | null> {
    const key = this.key(id);
    const raw = await this.redis.get(key);
    if (!raw) return null;
    const session = JSON.parse(raw) as SessionData;
    const now = Date.now();
    if (now >= session.absoluteExpiresAt) {
      await this.destroy(id);
      return null;
    }
    session.lastSeenAt = now;
    const ttl = Math.max(1, Math.min(this.policy.idleSeconds, Math.ceil((session.absoluteExpiresAt - now) / 1000)));
    await this.redis.set(key, JSON.stringify(session), 'EX', ttl);
    return session;
  }

  /** Reads a live session without sliding its idle timeout; null when unknown or expired. */
  async get(id: string): Promise<SessionData | null> {
    const raw = await this.redis.get(this.key(id));
    if (!raw) return null;
    const session = JSON.parse(raw) as SessionData;
    return Date.now() >= session.absoluteExpiresAt ? null : session;
  }

  /** The opaque handle of a session id (what `listForUser` shows and `endForUser` takes). */
  handleOf(id: string): string {
    return this.key(id).split(':').pop()!;
  }

  async destroy(id: string): Promise<void> {
    const key = this.key(id);
    const raw = await this.redis.get(key);
    await this.redis.del(key);
    if (raw) await this.redis.srem(this.userIndex((JSON.parse(raw) as SessionData).userId), key);
  }

  /** Lists a user's live sessions by an opaque handle (the hashed key, never the cookie value). */
  async listForUser(userId: string): Promise<Array<{ handle: string; session: SessionData }>> {
    const keys = await this.redis.smembers(this.userIndex(userId));
    const out: Array<{ handle: string; session: SessionData }> = [];
    for (const key of keys) {
      const raw = await this.redis.get(key);
      if (!raw) {
        await this.redis.srem(this.userIndex(userId), key);
        continue;
      }
      out.push({ handle: key.split(':').pop()!, session: JSON.parse(raw) as SessionData });
    }
    return out;
  }

  /** Ends one (handle given) or all of a user's sessions; returns how many ended. */
  async endForUser(userId: string, handle?: string): Promise<number> {
    const keys = await this.redis.smembers(this.userIndex(userId));
    const targets = handle ? keys.filter((k) => k.endsWith(`:${handle}`)) : keys;
    if (!targets.length) return 0;
    const deleted = await this.redis.del(...targets);
    await this.redis.srem(this.userIndex(userId), ...targets);
    return deleted;
  }
}

/** Secure cookies everywhere except plain-HTTP localhost development. */
export function cookieIsSecure(publicBaseUrl: string): boolean {
  const url = new URL(publicBaseUrl);
  return !(url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
}

export function setSessionCookie(c: Parameters<MiddlewareHandler<AppEnv>>[0], id: string, policy: SessionPolicy): void {
  setCookie(c, SESSION_COOKIE, id, {
    httpOnly: true,
    secure: cookieIsSecure(c.get('services').config.PUBLIC_BASE_URL),
    sameSite: 'Lax',
    path: '/',
    maxAge: policy.absoluteSeconds,
  });
}

export function clearSessionCookie(c: Parameters<MiddlewareHandler<AppEnv>>[0]): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/' });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Constant-time check of a CSRF token sent by a form or query parameter instead of the header. */
export function csrfTokenMatches(session: SessionData, token: string | undefined | null): boolean {
  return typeof token === 'string' && safeEqual(token, session.csrfToken);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Authenticates a signed-in user by session cookie; state-changing requests must also carry the
 * session's CSRF token in `X-CSRF-Token` (a cross-site form cannot read it).
 */
export function sessionAuth(store: SessionStore): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = getCookie(c, SESSION_COOKIE);
    const session = id ? await store.touch(id) : null;
    if (!id || !session) throw new ApiError(401, 'unauthenticated', 'sign in first');
    if (!SAFE_METHODS.has(c.req.method)) {
      const token = c.req.header(CSRF_HEADER) ?? '';
      if (!safeEqual(token, session.csrfToken)) {
        throw new ApiError(403, 'csrf_token_invalid', `state-changing requests need the session's ${CSRF_HEADER} header`);
      }
    }
    // The role and status come from the database on every request, so a demotion or a disabled
    // user takes effect at once, not when the session expires.
    const user = await c
      .get('services')
      .db.selectFrom('users')
      .select(['role', 'status'])
      .where('id', '=', session.userId)
      .where('organization_id', '=', session.organizationId)
      .executeTakeFirst();
    if (user?.status !== 'active') {
      await store.destroy(id);
      throw new ApiError(401, 'session_revoked', 'this session has ended; sign in again');
    }
    c.set('principal', {
      kind: 'user',
      userId: session.userId,
      organizationId: session.organizationId,
      role: user.role,
      sessionId: id,
    });
    await next();
  };
}

/** Requires an admin of the session's organization (use after sessionAuth). */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const p = c.get('principal');
    if (p?.kind !== 'user' || p.role !== 'admin') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
    await next();
  };
}
