import { Redis } from 'ioredis';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { isBackendUnavailable } from '../../src/api/backend-unavailable.ts';
import type { Db } from '../../src/db/database.ts';
import { createOutboundGate } from '../../src/transfers/gate.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * PostgreSQL or Redis briefly out of reach is not a bug of the request: the API answers 503
 * `service_unavailable` with Retry-After, never 500. Found by the chaos run of 2026-12-06: two iCal
 * feed fetches answered 500 while PostgreSQL backends of the service were terminated.
 */
describe('a backing service out of reach', () => {
  let t: TestServices;
  const closed: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    t = await createTestServices();
  });
  afterAll(async () => {
    for (const close of closed) await close().catch(() => undefined);
    await t.cleanup();
  });

  /** A database handle on a port where nothing listens: every query fails to connect. */
  const unreachableDb = (): Db => {
    const db = new Kysely({
      dialect: new PostgresDialect({ pool: new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2_000 }) }),
    }) as unknown as Db;
    closed.push(() => db.destroy());
    return db;
  };
  const unreachableRedis = (): Redis => {
    const redis = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    closed.push(async () => redis.disconnect());
    return redis;
  };
  const feedUrl = `/ical/${'Q'.repeat(43)}.ics`;

  it('a feed fetch while PostgreSQL cannot be reached answers 503 with Retry-After, not 500', async () => {
    const app = createApp({ ...t.services, db: unreachableDb() });
    const res = await app.request(feedUrl, {}, { incoming: { socket: { remoteAddress: '203.0.113.7' } } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('service_unavailable');
    // What failed stays in the server's log: no address, port or driver message in the answer.
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|:1\b/);
  });

  it('a feed fetch while Redis cannot be reached answers 503 with Retry-After, not 500', async () => {
    // One Redis for everything, as in a deployment: the gate's (whose lease script call carries the
    // feed's rate-limit count) is out of reach too.
    const redis = unreachableRedis();
    const gate = createOutboundGate({ db: t.services.db, redis, redisPrefix: t.config.REDIS_PREFIX, logger: t.services.logger });
    const app = createApp({ ...t.services, redis, gate });
    const res = await app.request(feedUrl, {}, { incoming: { socket: { remoteAddress: '203.0.113.8' } } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
  });

  it.runIf(process.env.TEST_DATABASE_URL)('recognises a backend terminated by the server (pg_terminate_backend, SQLSTATE 57P01)', async () => {
    const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    client.on('error', () => undefined);
    await client.connect();
    closed.push(() => client.end());
    const err = await client.query('SELECT pg_terminate_backend(pg_backend_pid())').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).not.toBeNull();
    expect(isBackendUnavailable(err)).toBe(true);
  });

  it('does not mistake a request or programming error for an outage', async () => {
    const divideByZero = await sql`SELECT 1/0`.execute(t.services.db).then(
      () => null,
      (e: unknown) => e,
    );
    expect(divideByZero).not.toBeNull();
    expect(isBackendUnavailable(divideByZero)).toBe(false);
    expect(isBackendUnavailable(new Error('boom'))).toBe(false);
    expect(isBackendUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isBackendUnavailable(null)).toBe(false);
  });
});
