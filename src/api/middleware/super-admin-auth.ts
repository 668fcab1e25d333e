import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';

/**
 * The deployment's super administrator: `Authorization: Bearer <SUPER_ADMIN_TOKEN>`. Compared as
 * SHA-256 digests in constant time; with no token configured every super-admin route answers 403.
 */
export function superAdminAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const expected = c.get('services').config.SUPER_ADMIN_TOKEN;
    if (!expected) throw new ApiError(403, 'super_admin_disabled', 'no super administrator credential is configured');
    const given = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(expected).digest();
    if (!given || !timingSafeEqual(a, b)) throw new ApiError(401, 'invalid_super_admin_token', 'the super administrator credential is not valid');
    c.set('principal', { kind: 'super_admin' });
    await next();
  };
}
