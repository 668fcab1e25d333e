import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';

/**
 * A `fetch` that connects to one address resolved beforehand, whatever the URL's host name resolves
 * to at request time: the firm's server is checked (public address) when resolved, and the calls
 * then go to exactly that address, so a name that re-resolves to an internal address afterwards (DNS
 * rebinding) reaches nothing new. TLS still verifies the certificate against the host name (SNI and
 * checks use the URL's name; only the address lookup is replaced). Redirects are never followed
 * (answered as they are, like `redirect: 'error'` callers expect to refuse them). Errors look like
 * fetch's (`TypeError('fetch failed')` with the socket error as cause; a timeout is the signal's
 * reason), so callers classify them the same way.
 */
export function pinnedFetch(pin: { address: string; family: 4 | 6 }): typeof fetch {
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [pin]);
    else callback(null, pin.address, pin.family);
  };
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const body = init.body;
    return new Promise<Response>((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, { method: init.method ?? 'GET', headers, lookup, signal }, (res) => {
        const status = res.statusCode ?? 0;
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
        const empty = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
        if (empty) res.resume();
        resolve(
          new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? '', headers: out }),
        );
      });
      req.on('error', (err) => reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err })));
      if (body === undefined || body === null) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else if (body instanceof ReadableStream) {
        Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>)
          .on('error', (err) => req.destroy(err))
          .pipe(req);
      } else req.end(String(body));
    });
  }) as typeof fetch;
}
