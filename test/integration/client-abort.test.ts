import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import { bearer, type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * A client that hangs up mid-request or mid-response, over a real socket: logged once, at info, as
 * an abort — no "unhandled error", nothing at error level, no 500 in the request log.
 */

type Line = { level: number; msg: string; [k: string]: unknown };
const lines: Line[] = [];
const sink = new Writable({
  write(chunk, _enc, cb) {
    for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Line);
    cb();
  },
});

const ABORT_MESSAGE = 'client closed the connection before the response was complete';

async function until<T>(find: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('timed out waiting for the log line');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('client aborts', () => {
  let t: TestServices;
  let server: ServerType;
  let port: number;
  let org: SeededOrg;
  let endless: { cancelled: boolean };

  beforeAll(async () => {
    t = await createTestServices({}, { logger: createLogger({ level: 'info', destination: sink }) });
    org = await seedOrg(t.services, 'Abort Firm');
    // A response that never ends on its own, standing in for a long export or feed.
    endless = { cancelled: false };
    t.app.get('/test/endless', (c) =>
      c.body(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((r) => setTimeout(r, 20));
            controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
          },
          cancel() {
            endless.cancelled = true;
          },
        }),
      ),
    );
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await t.cleanup();
  });

  const open = async (): Promise<Socket> => {
    const sock = connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    return sock;
  };

  it('logs an upload the client abandoned as an abort, not an unhandled error', async () => {
    const from = lines.length;
    const sock = await open();
    sock.write(
      'PUT /v1/ingest/documents/d1 HTTP/1.1\r\nHost: localhost\r\n' +
        `Authorization: ${bearer(org.apiKey).authorization}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n` +
        '{"caseExternalId":"c","title":"t","content":"',
    );
    await new Promise((r) => setTimeout(r, 200));
    sock.destroy();
    const abort = await until(() => lines.slice(from).find((l) => l.msg === ABORT_MESSAGE));
    expect(abort).toMatchObject({ level: 30, method: 'PUT', phase: 'request', status: 499 });
    const request = await until(() => lines.slice(from).find((l) => l.msg === 'request'));
    expect(request).toMatchObject({ status: 499 });
    expect(lines.slice(from).filter((l) => l.level >= 50 || l.msg === 'unhandled error')).toEqual([]);
    expect(lines.slice(from).filter((l) => l.msg === ABORT_MESSAGE)).toHaveLength(1);
  });

  it('logs a response the client stopped reading as an abort', async () => {
    const from = lines.length;
    const sock = await open();
    sock.write('GET /test/endless HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await new Promise((r) => sock.once('data', r));
    sock.destroy();
    const abort = await until(() => lines.slice(from).find((l) => l.msg === ABORT_MESSAGE));
    expect(abort).toMatchObject({ level: 30, method: 'GET', phase: 'response', status: 200 });
    await until(() => (endless.cancelled ? true : undefined));
    expect(lines.slice(from).filter((l) => l.level >= 50)).toEqual([]);
  });

  it('does not log an abort for a request answered in full', async () => {
    const from = lines.length;
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
    await res.text();
    await new Promise((r) => setTimeout(r, 100));
    expect(lines.slice(from).filter((l) => l.msg === ABORT_MESSAGE)).toEqual([]);
  });
});
