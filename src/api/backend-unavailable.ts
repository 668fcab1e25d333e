/**
 * Whether an error says that a backing service this process depends on (PostgreSQL, Redis) was briefly
 * unreachable — a terminated backend, a refused or reset connection, a pool that could not connect,
 * Redis gone — rather than that the request or the code is wrong. The API answers those 503 with
 * Retry-After (a calendar app polling a feed, a browser, a script may simply retry), not 500.
 *
 * Recognised: PostgreSQL SQLSTATE class 08 (connection exception), 57P01–57P03 (administrator or crash
 * shutdown, cannot connect now) and 53300 (too many connections); node-postgres's and ioredis's
 * connection messages; socket error codes of a connection that failed; the same found in `cause` or in
 * an AggregateError's `errors` (a refused connection to a host with several addresses).
 */
export function isBackendUnavailable(err: unknown): boolean {
  return unavailable(err, 0);
}

const PG_UNAVAILABLE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const MESSAGES = [
  'Connection terminated', // node-postgres: the server closed the connection (pg_terminate_backend, restart)
  'timeout exceeded when trying to connect', // pg-pool
  'Client has encountered a connection error',
  'Connection is closed', // ioredis
  "Stream isn't writeable", // ioredis without its offline queue
  'Reached the max retries per request limit', // ioredis MaxRetriesPerRequestError
];

function unavailable(err: unknown, depth: number): boolean {
  if (err === null || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (PG_UNAVAILABLE.test(e.code) || SOCKET_CODES.has(e.code))) return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.message === 'string') {
    const message = e.message;
    if (MESSAGES.some((m) => message.startsWith(m))) return true;
  }
  if (Array.isArray(e.errors) && e.errors.some((x) => unavailable(x, depth + 1))) return true;
  return unavailable(e.cause, depth + 1);
}
