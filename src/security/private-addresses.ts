import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses a server chosen by a customer (a firm's iManage host, a webhook endpoint) must not
 * resolve to: loopback, private, link-local (cloud metadata), CGNAT, benchmarking, documentation,
 * multicast, reserved and unspecified ranges, IPv4 and IPv6. One list for every outbound check
 * against SSRF.
 */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 3],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6');
}

/** Whether an IP address is not public (anything that is not an IP address counts as not public). */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is the IPv4 address it maps (a BlockList subnet
  // ::ffff:0:0/96 would match every IPv4 address).
  const mapped = /^::ffff:(?:0:)?((?:\d{1,3}\.){3}\d{1,3})$/i.exec(address)?.[1];
  if (mapped) return PRIVATE.check(mapped, 'ipv4');
  if (/^::ffff:(?:0:)?[0-9a-f]{1,4}:[0-9a-f]{1,4}$/i.test(address)) return true; // mapped, written in hex: refuse rather than decode
  return PRIVATE.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * A socket `lookup` that refuses private addresses: the connect-time SSRF check, so the address
 * checked is the address connected to (a name that resolves to 127.0.0.1 now is refused too). The
 * error has code `EPRIVATE`.
 */
export function publicOnlyLookup(hostname: string, options: object, callback: (...args: unknown[]) => void): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err);
    const list = addresses as LookupAddress[];
    if (!list.length || list.some((a) => isPrivateAddress(a.address))) {
      return callback(Object.assign(new Error('the host resolves to a private address'), { code: 'EPRIVATE' }));
    }
    if ((options as { all?: boolean }).all) return callback(null, list);
    return callback(null, list[0]!.address, list[0]!.family);
  });
}

/** Whether a URL host is a loopback name or address (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
