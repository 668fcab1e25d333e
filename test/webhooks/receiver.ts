import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got: headers (lower-cased) and the raw body. */
export interface Received {
  headers: Record<string, string>;
  body: string;
  at: number;
}

/**
 * A local HTTP receiver standing in for the platform's backend: records every POST, answers with the
 * status `answer()` gives (200 by default), and can be stopped and started again on the same port
 * (a receiver that is down refuses connections).
 */
export class Receiver {
  readonly received: Received[] = [];
  answer: (r: Received) => number = () => 200;
  private server: http.Server | null = null;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        this.received.push(r);
        res.writeHead(this.answer(r), { 'content-type': 'text/plain', connection: 'close' }).end('ok');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests of one event type, in arrival order. */
  ofType(type: string): Received[] {
    return this.received.filter((r) => r.headers['casebridge-webhook-event'] === type);
  }
}

/** Polls until `check` returns a truthy value (or fails after `timeoutMs`). */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
