import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { RedisClient as Redis } from '../../redis.ts';
import { redisKey } from '../../redis.ts';

/**
 * node-saml's cache of issued AuthnRequest ids (for `validateInResponseTo: 'always'`) in Redis, so
 * every API process sees the same requests and a consumed id is gone for all of them. node-saml's
 * default is an in-memory map per process.
 */
export class RedisSamlRequestCache implements CacheProvider {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly organizationId: string,
    private readonly ttlSeconds: number,
  ) {}

  private key(id: string): string {
    return redisKey(this.prefix, 'saml-request', this.organizationId, id);
  }

  async saveAsync(key: string, value: string): Promise<CacheItem | null> {
    const ok = await this.redis.set(this.key(key), value, 'EX', this.ttlSeconds, 'NX');
    return ok === 'OK' ? { value, createdAt: Date.now() } : null;
  }

  async getAsync(key: string): Promise<string | null> {
    return this.redis.get(this.key(key));
  }

  async removeAsync(key: string | null): Promise<string | null> {
    if (!key) return null;
    const removed = await this.redis.del(this.key(key));
    return removed ? key : null;
  }
}

/**
 * The replay cache of consumed assertion ids: an id is claimed once (SET NX) and kept until the
 * assertion's NotOnOrAfter plus the accepted clock skew, after which it could not validate anyway.
 */
export class SamlReplayCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(organizationId: string, assertionId: string): string {
    return redisKey(this.prefix, 'saml-assertion', organizationId, Buffer.from(assertionId).toString('base64url'));
  }

  /** True when this assertion id was already consumed for the organization. */
  async seen(organizationId: string, assertionId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(organizationId, assertionId))) === 1;
  }

  /** Claims the id; false when it was already claimed (a replay). */
  async claim(organizationId: string, assertionId: string, keepUntilMs: number): Promise<boolean> {
    const ttl = Math.max(1000, keepUntilMs - Date.now());
    const ok = await this.redis.set(this.key(organizationId, assertionId), '1', 'PX', ttl, 'NX');
    return ok === 'OK';
  }
}

/**
 * The replay cache of IdP-initiated LogoutRequest ids: a signed LogoutRequest ends sessions once.
 * An id is claimed (SET NX) until the end of the request's validity window plus the clock skew, after
 * which the time check refuses it anyway — so the cache never needs to remember an id for longer.
 */
export class SamlLogoutReplayCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Claims the id; false when it was already claimed (a replay). */
  async claim(organizationId: string, requestId: string, keepUntilMs: number): Promise<boolean> {
    const key = redisKey(this.prefix, 'saml-logout-request', organizationId, Buffer.from(requestId).toString('base64url'));
    const ok = await this.redis.set(key, '1', 'PX', Math.max(1000, keepUntilMs - Date.now()), 'NX');
    return ok === 'OK';
  }
}
