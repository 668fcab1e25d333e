import { createHash } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';

/**
 * A Redis client: one server (`REDIS_URL`), or a Redis Cluster (`REDIS_CLUSTER_NODES`). In a cluster
 * every Casebridge key carries one hash tag (the prefix becomes `{prefix}`, see config/load.ts), so
 * each Lua script's keys — the account and project budgets of one call included — BullMQ's queues,
 * sessions and leases all live in one slot.
 */
export type RedisClient = Redis | Cluster;

/** Where Redis is: the URL (credentials, TLS, database) and, for a cluster, its seed nodes. */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string | undefined;
}

/** `host:port,host:port` → cluster seed nodes. */
export function clusterNodes(list: string): Array<{ host: string; port: number }> {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hp.slice(i + 1)) };
    });
}

/**
 * A new client for `target` (BullMQ needs `maxRetriesPerRequest: null` on the connections it blocks
 * on; we use it everywhere). Cluster nodes get the URL's credentials and TLS.
 */
export function createRedisClient(target: RedisTarget, options: { lazyConnect?: boolean } = {}): RedisClient {
  if (target.REDIS_CLUSTER_NODES) {
    const u = new URL(target.REDIS_URL);
    return new Cluster(clusterNodes(target.REDIS_CLUSTER_NODES), {
      lazyConnect: options.lazyConnect ?? false,
      enableOfflineQueue: true,
      redisOptions: {
        maxRetriesPerRequest: null,
        ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
        ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
        ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
      },
    });
  }
  return new Redis(target.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: options.lazyConnect ?? false, enableOfflineQueue: true });
}

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
export async function connectRedis(url: string, options: { timeoutMs?: number; clusterNodes?: string | undefined } = {}): Promise<RedisClient> {
  const redis = createRedisClient({ REDIS_URL: url, REDIS_CLUSTER_NODES: options.clusterNodes }, { lazyConnect: true });
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

/** Runs a Lua script: `keys` are its KEYS, `args` its ARGV. */
export type RedisScript = (redis: RedisClient, keys: string[], args?: Array<string | number>) => Promise<unknown>;

/**
 * A Lua script sent once and then run by its SHA-1 (EVALSHA: a few dozen bytes per call instead of
 * the whole script, and no parse on the server), loaded again by EVAL when the server does not know it
 * (a new or restarted server, SCRIPT FLUSH, another node of a cluster).
 */
export function redisScript(source: string): RedisScript {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (redis, keys, args = []) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(source, keys.length, ...keys, ...args);
    }
  };
}
