import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { isPrivateAddress } from '../security/private-addresses.ts';

/**
 * The HTTP client of webhooks, and the only one: it POSTs a signed event to an endpoint of the
 * platform's backend. It is not an outbound-gate client on purpose (README, "Webhooks"): the
 * receiver is the platform itself — the controller of the case data, not an Additional Platform —
 * and a payload carries ids, statuses and codes only (src/webhooks/events.ts), so there is no
 * consent to check and no transfer to log. The architecture test admits this file by name.
 *
 * SSRF: an endpoint URL is an address the service calls from inside its network. Unless
 * WEBHOOK_ALLOW_PRIVATE_ADDRESSES is set, only `https:` is accepted and every address the host
 * resolves to must be public — checked when the endpoint is saved, and again at connect time by
 * the socket's own DNS lookup (so a name that later resolves to 127.0.0.1 is refused too).
 */

/** Why an endpoint URL is refused (a stable code and a message), or null. */
export interface UrlRefusal {
  code: 'webhook_url_invalid' | 'webhook_url_private';
  message: string;
}

/** Checks an endpoint URL's shape and, when private targets are not allowed, every address its host resolves to. */
export async function checkWebhookUrl(raw: string, options: { allowPrivate: boolean }): Promise<UrlRefusal | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { code: 'webhook_url_invalid', message: 'the URL is not an absolute URL' };
  }
  if (url.protocol !== 'https:' && !(options.allowPrivate && url.protocol === 'http:')) {
    return { code: 'webhook_url_invalid', message: 'the URL must use https' };
  }
  if (url.username || url.password) return { code: 'webhook_url_invalid', message: 'the URL must not carry credentials' };
  if (url.hash) return { code: 'webhook_url_invalid', message: 'the URL must not have a fragment' };
  if (options.allowPrivate) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookupAll(host)).map((a) => a.address);
  } catch {
    return { code: 'webhook_url_invalid', message: 'the host name does not resolve' };
  }
  if (!addresses.length || addresses.some(isPrivateAddress)) {
    return { code: 'webhook_url_private', message: 'the URL points to a private, loopback or reserved address' };
  }
  return null;
}

function lookupAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
}

/** A `lookup` for the socket that refuses private addresses (the connect-time SSRF check). */
function publicOnlyLookup(hostname: string, options: object, callback: (...args: unknown[]) => void): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err);
    const list = addresses as LookupAddress[];
    const refused = list.find((a) => isPrivateAddress(a.address));
    if (refused || !list.length) return callback(Object.assign(new Error('webhook target resolves to a private address'), { code: 'EPRIVATE' }));
    if ((options as { all?: boolean }).all) return callback(null, list);
    return callback(null, list[0]!.address, list[0]!.family);
  });
}

/** The answer of one POST: the status, or why there was none. Never the body (a receiver's answer is not ours to keep). */
export type SendOutcome = { ok: true; status: number; durationMs: number } | { ok: false; status: number | null; error: string; durationMs: number };

/** POSTs `body` with `headers`; a 2xx is success. Follows no redirects (a 3xx is a failure). */
export function postWebhook(params: {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
}): Promise<SendOutcome> {
  const started = Date.now();
  const url = new URL(params.url);
  const client = url.protocol === 'https:' ? https : http;
  // An address literal is never looked up, so the socket's lookup cannot refuse it: checked here.
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!params.allowPrivate && isIP(literal) && isPrivateAddress(literal)) {
    return Promise.resolve({ ok: false, status: null, error: 'refused: the host resolves to a private address', durationMs: 0 });
  }
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: SendOutcome) => {
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(params.body)), ...params.headers },
        timeout: params.timeoutMs,
        ...(params.allowPrivate ? {} : { lookup: publicOnlyLookup as never }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        // Drain without keeping the answer.
        res.resume();
        res.on('end', () =>
          done(
            status >= 200 && status < 300
              ? { ok: true, status, durationMs: Date.now() - started }
              : { ok: false, status, error: `the endpoint answered ${status}`, durationMs: Date.now() - started },
          ),
        );
        res.on('error', (err) => done({ ok: false, status, error: `answer interrupted (${describe(err)})`, durationMs: Date.now() - started }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => done({ ok: false, status: null, error: describe(err), durationMs: Date.now() - started }));
    req.end(params.body);
  });
}

/** A short, secret-free description of a network error (its code, not the full message). */
function describe(err: Error): string {
  const code = (err as { code?: string }).code;
  if (code === 'EPRIVATE') return 'refused: the host resolves to a private address';
  if (code === 'ETIMEDOUT') return 'no answer within the timeout';
  return code ? `connection failed (${code})` : 'connection failed';
}
