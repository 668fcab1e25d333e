import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient as Redis } from '../redis.ts';
import { redisKey } from '../redis.ts';

// The store lives apart from the HTTP middleware (sessions.ts) so that the shared services object
// (src/services.ts) can hold it without depending on the API layer.

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
  async create(data: Omit<SessionData, 'csrfToken' | 'createdAt' | 'lastSeenAt' | 'absoluteExpiresAt'>): Promise<{ id: string; session: SessionData }> {
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
