import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { parseTrustedProxies, resolveClientAddress, type TrustedProxies } from '../config/trust-proxy.ts';
import type { AppEnv } from './env.ts';

/**
 * The client's address, as recorded in consent records, sessions and security events.
 *
 * `X-Forwarded-For` is written by whoever sent the request, so it is believed only as far as a chain
 * of trusted proxies vouches for it (the semantics of nginx's `real_ip_recursive` and Express's
 * `trust proxy` with a list of addresses): start from the socket peer; while that address is one of
 * `TRUST_PROXY`, step to the right-most remaining `X-Forwarded-For` entry; the first address that is
 * not a trusted proxy is the client. With `TRUST_PROXY` unset nothing is trusted and the socket peer
 * is the client, whatever the headers say. `X-Real-IP` and `Forwarded` are never read.
 */

const cache = new WeakMap<object, TrustedProxies>();

function trustedFor(config: { TRUST_PROXY?: string | undefined }): TrustedProxies {
  let trusted = cache.get(config);
  if (!trusted) {
    trusted = parseTrustedProxies(config.TRUST_PROXY);
    cache.set(config, trusted);
  }
  return trusted;
}

/** The socket peer's address; null when the request did not come over a Node socket (in-process tests). */
function socketPeer<E extends AppEnv>(c: Context<E>): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

/** The requesting client's address under the deployment's `TRUST_PROXY` (see the module comment). */
export function clientAddress<E extends AppEnv>(c: Context<E>): string | null {
  return resolveClientAddress(socketPeer(c), c.req.header('x-forwarded-for'), trustedFor(c.get('services').config));
}
