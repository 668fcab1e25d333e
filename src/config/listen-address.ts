/** Parses a listen address such as `METRICS_LISTEN`: `host:port`, the host an IPv4 address, a name, or a bracketed IPv6 address; null when malformed. */
export function parseListen(value: string): { host: string; port: number } | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match) return null;
  const port = Number(match[2]);
  if (port > 65535) return null;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}
