import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient as Redis } from '../redis.ts';
import { redisKey } from '../redis.ts';

/** How long a started sign-in may take before it must start over. */
export const PRE_LOGIN_TTL_SECONDS = 600;

/**
 * How long the organization a sign-in was started for is remembered after its state is gone, so a
 * late or replayed callback (`oidc_state_missing`) is still shown to that organization's admins.
 */
export const PRE_LOGIN_ORGANIZATION_TTL_SECONDS = 86_400;

/**
 * Short-lived state of a sign-in in progress (OIDC state, nonce and PKCE verifier; the SAML request
 * id), kept in Redis under the SHA-256 of a random handle that only the browser's pre-login cookie
 * holds. `take` reads and deletes in one step, so a handle works once.
 */
export class PreLoginStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(kind: string, handle: string): string {
    return redisKey(this.prefix, 'pre-login', kind, createHash('sha256').update(handle).digest('hex'));
  }

  async save<T extends object>(kind: string, data: T): Promise<string> {
    const handle = randomBytes(32).toString('base64url');
    await this.redis.set(this.key(kind, handle), JSON.stringify(data), 'EX', PRE_LOGIN_TTL_SECONDS);
    return handle;
  }

  async take<T extends object>(kind: string, handle: string | undefined): Promise<T | null> {
    if (!handle || handle.length > 100) return null;
    const raw = await this.redis.getdel(this.key(kind, handle));
    return raw ? (JSON.parse(raw) as T) : null;
  }

  /**
   * Remembers, beyond the pre-login's own lifetime, which organization the sign-in identified by
   * these values (the cookie handle, the OAuth state) was started for. Only hashes are stored.
   */
  async rememberOrganization(kind: string, values: string[], organizationId: string): Promise<void> {
    const multi = this.redis.multi();
    for (const value of values) multi.set(this.key(`${kind}-organization`, value), organizationId, 'EX', PRE_LOGIN_ORGANIZATION_TTL_SECONDS);
    await multi.exec();
  }

  /** The organization remembered for the first of these values that has one, or null. */
  async organizationOf(kind: string, values: Array<string | null | undefined>): Promise<string | null> {
    for (const value of values) {
      if (!value || value.length > 200) continue;
      const organizationId = await this.redis.get(this.key(`${kind}-organization`, value));
      if (organizationId) return organizationId;
    }
    return null;
  }
}
