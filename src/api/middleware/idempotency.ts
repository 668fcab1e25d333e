import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { redisKey } from '../../redis.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';

/**
 * `Idempotency-Key` on a POST that creates (draft-ietf-httpapi-idempotency-key-header): the first
 * request with a key runs and its answer (status, body, content type and location) is stored for 24
 * hours in Redis, per caller (the user or API key: one caller's key never replays another's answer).
 * The same key with the same method, path and body gets the stored answer again, marked
 * `Idempotent-Replayed: true`, and nothing is created twice; the same key with another request is
 * 409 `idempotency_key_reused`; while the first is still running, 409 `idempotency_key_in_progress`.
 * A 5xx answer is not stored, so a retry runs again. Without the header nothing changes.
 *
 * Use after the authentication middleware (the caller scopes the key). Not on a route whose answer
 * carries a secret shown once (a new API key, a feed URL, a connect link): the stored answer would
 * keep that secret in Redis for a day.
 */

/** How long an answer is kept. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/** How long a first request may run before its key is released (a crash must not block the key for a day). */
const PENDING_TTL_SECONDS = 5 * 60;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The header, for a creating route's `request.headers` (so the OpenAPI document declares it). */
export const IdempotencyHeaders = z.object({
  'idempotency-key': z.string().regex(KEY_PATTERN).optional().openapi({
    description: 'A unique key per intended creation (e.g. a UUID). Resending the same request with it within 24 h returns the first answer.',
    example: '5f0c1c52-9e4e-4a4e-8a43-2d7f6a1b9c10',
  }),
});

interface Stored {
  state: 'pending' | 'done';
  fingerprint: string;
  status?: number;
  body?: string;
  headers?: Record<string, string>;
}

const KEPT_HEADERS = ['content-type', 'location', 'etag'];

export function idempotency(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header('idempotency-key');
    if (given === undefined) return next();
    if (!KEY_PATTERN.test(given)) {
      throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    const services = c.get('services');
    const p = c.get('principal');
    const caller = p.kind === 'user' ? `user:${p.userId}` : p.kind === 'api_key' ? `key:${p.apiKeyId}` : 'super-admin';
    const key = redisKey(services.config.REDIS_PREFIX, 'idempotency', caller, createHash('sha256').update(given).digest('hex'));
    const fingerprint = createHash('sha256')
      .update(`${c.req.method} ${c.req.path}\n`)
      .update(await c.req.text())
      .digest('hex');

    const claimed = await services.redis.set(key, JSON.stringify({ state: 'pending', fingerprint } satisfies Stored), 'EX', PENDING_TTL_SECONDS, 'NX');
    if (claimed !== 'OK') {
      const stored = JSON.parse((await services.redis.get(key)) ?? 'null') as Stored | null;
      if (!stored) throw new ApiError(409, 'idempotency_key_in_progress', 'a request with this Idempotency-Key just finished; retry');
      if (stored.fingerprint !== fingerprint) {
        throw new ApiError(409, 'idempotency_key_reused', 'this Idempotency-Key was used for a different request; use a new key');
      }
      if (stored.state === 'pending') {
        throw new ApiError(409, 'idempotency_key_in_progress', 'a request with this Idempotency-Key is still being processed; retry shortly', undefined, {
          'Retry-After': '1',
        });
      }
      return new Response(stored.body ?? null, {
        status: stored.status ?? 200,
        headers: { ...stored.headers, 'idempotent-replayed': 'true' },
      });
    }

    try {
      await next();
    } catch (thrown) {
      await services.redis.del(key);
      throw thrown;
    }
    const res = c.res;
    if (res.status >= 500) {
      await services.redis.del(key);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = res.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const done: Stored = { state: 'done', fingerprint, status: res.status, body: await res.clone().text(), headers };
    await services.redis.set(key, JSON.stringify(done), 'EX', IDEMPOTENCY_TTL_SECONDS);
  };
}
