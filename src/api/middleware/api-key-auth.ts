import type { MiddlewareHandler } from 'hono';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { type ApiKeyScope, scopeAllows } from '../../auth/api-key-scopes.ts';
import { authenticateApiKey } from '../../auth/api-keys.ts';
import { redisKey } from '../../redis.ts';
import type { Services } from '../../services.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';

/**
 * The platform's backend: `Authorization: Bearer <api key>`. Authenticates the key, checks that it
 * carries `scope` (403 `insufficient_scope` otherwise; `admin` covers every scope), counts the
 * request against the key's rate limit, and sets an `api_key` principal of the key's organization.
 *
 * Rate limit: API_RATE_LIMIT_REQUESTS per API_RATE_LIMIT_WINDOW_SECONDS per key, in Redis (shared by
 * every API process). Every answer carries the IETF draft headers (draft-ietf-httpapi-ratelimit-headers)
 * `RateLimit-Policy: "per-key";q=<quota>;w=<window>` and `RateLimit: "per-key";r=<remaining>;t=<reset>`;
 * beyond the quota, 429 `rate_limited` with `Retry-After` (seconds).
 */
export function apiKeyAuth(params: { scope: ApiKeyScope }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const services = c.get('services');
    const key = await authenticateApiKey(services.db, c.req.header('authorization'));
    if (!scopeAllows(key.scopes, params.scope)) {
      throw new ApiError(403, 'insufficient_scope', `this API key lacks the "${params.scope}" scope`, { required: params.scope, granted: key.scopes });
    }
    await countRequest(services, key.id, (name, value) => c.header(name, value));
    c.set('principal', { kind: 'api_key', organizationId: key.organizationId, apiKeyId: key.id, scopes: key.scopes });
    await next();
  };
}

const limiters = new WeakMap<Services, RateLimiterRedis>();

function limiterOf(services: Services): RateLimiterRedis {
  let limiter = limiters.get(services);
  if (!limiter) {
    limiter = new RateLimiterRedis({
      storeClient: services.redis,
      keyPrefix: redisKey(services.config.REDIS_PREFIX, 'api-key', 'rate'),
      points: services.config.API_RATE_LIMIT_REQUESTS,
      duration: services.config.API_RATE_LIMIT_WINDOW_SECONDS,
    });
    limiters.set(services, limiter);
  }
  return limiter;
}

/** Counts one request of a key; sets the RateLimit headers; throws 429 beyond the quota. */
async function countRequest(services: Services, apiKeyId: string, header: (name: string, value: string) => void): Promise<void> {
  const quota = services.config.API_RATE_LIMIT_REQUESTS;
  const window = services.config.API_RATE_LIMIT_WINDOW_SECONDS;
  const policy = `"per-key";q=${quota};w=${window}`;
  header('RateLimit-Policy', policy);
  try {
    const res = await limiterOf(services).consume(apiKeyId, 1);
    header('RateLimit', `"per-key";r=${res.remainingPoints};t=${Math.ceil(res.msBeforeNext / 1000)}`);
  } catch (thrown) {
    if (!(thrown instanceof RateLimiterRes)) throw thrown;
    const retryAfter = String(Math.max(1, Math.ceil(thrown.msBeforeNext / 1000)));
    throw new ApiError(429, 'rate_limited', `this API key made more than ${quota} requests in ${window} s; retry after ${retryAfter} s`, undefined, {
      'RateLimit-Policy': policy,
      RateLimit: `"per-key";r=0;t=${retryAfter}`,
      'Retry-After': retryAfter,
    });
  }
}
