import { BlockList, isIP } from 'node:net';

/**
 * `TRUST_PROXY`: the reverse proxies whose `X-Forwarded-For` is believed (see `src/api/client-address.ts`
 * for how a request's client address is derived). Pure, so the config schema can validate it.
 */

/** A parsed `TRUST_PROXY`: the proxies whose `X-Forwarded-For` is believed. */
export interface TrustedProxies {
  has(address: string): boolean;
}

/** Thrown by {@link parseTrustedProxies} for an entry that is neither an IP address nor a CIDR block. */
export class TrustProxyError extends Error {
  readonly code = 'invalid_trust_proxy';
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is `10.0.0.1`. */
function normalize(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Parses `TRUST_PROXY`: comma-separated IP addresses and CIDR blocks (IPv4 or IPv6); empty = none. */
export function parseTrustedProxies(spec: string | undefined): TrustedProxies {
  const list = new BlockList();
  let entries = 0;
  for (const entry of (spec ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? null : Number(prefix);
    const max = family === 4 ? 32 : 128;
    if (!family || extra !== undefined || (bits !== null && (!/^\d{1,3}$/.test(prefix!) || bits > max))) {
      throw new TrustProxyError(`"${entry}" is not an IP address or CIDR block`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === null) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
    entries++;
  }
  return {
    has(address: string): boolean {
      if (!entries) return false;
      const a = normalize(address);
      const family = isIP(a);
      return family !== 0 && list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * The client address from the socket peer and the `X-Forwarded-For` value, trusting only `trusted`
 * proxies. Pure, for the unit tests; {@link clientAddress} is the request-facing form.
 */
export function resolveClientAddress(peer: string | null, forwardedFor: string | undefined, trusted: TrustedProxies): string | null {
  if (!peer) return null;
  let current = normalize(peer);
  const hops = (forwardedFor ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  while (trusted.has(current) && hops.length) {
    const next = normalize(hops.pop()!);
    // A trusted proxy passing on garbage: keep the last address we can vouch for.
    if (!isIP(next)) break;
    current = next;
  }
  return current;
}
