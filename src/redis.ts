import { Redis } from 'ioredis';

/** Redis could not be reached; the message says how to start one. */
export class RedisUnavailableError extends Error {
  readonly code = 'redis_unavailable';
  constructor(url: string, cause: unknown) {
    const where = safeRedisUrl(url);
    super(
      `Redis is not answering at ${where} (${cause instanceof Error ? cause.message : String(cause)}).\n` +
        'Start one with:  redis-server --daemonize yes --bind 127.0.0.1 --port 6379\n' +
        'or point REDIS_URL at a running server. (`npm run demo` starts a private redis-server by itself.)',
    );
    this.name = 'RedisUnavailableError';
  }
}

/** The URL without credentials, for messages. */
export function safeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return 'REDIS_URL';
  }
}

/**
 * Opens a Redis client and checks it answers within `timeoutMs`. BullMQ needs
 * `maxRetriesPerRequest: null` on the connections it blocks on; we use it everywhere for simplicity.
 */
export async function connectRedis(url: string, options: { timeoutMs?: number } = {}): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, enableOfflineQueue: true });
  redis.on('error', () => {
    // Reconnection is automatic; readiness is reported by /readyz. Avoid unhandled 'error' events.
  });
  try {
    await withTimeout(redis.connect(), options.timeoutMs ?? 3000);
    await withTimeout(redis.ping(), options.timeoutMs ?? 3000);
  } catch (err) {
    redis.disconnect();
    throw new RedisUnavailableError(url, err);
  }
  return redis;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Builds a namespaced key: every key Casebridge writes starts with REDIS_PREFIX. */
export function redisKey(prefix: string, ...parts: string[]): string {
  return [prefix, ...parts].join(':');
}
