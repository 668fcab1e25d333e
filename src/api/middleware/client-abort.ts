import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../../observability/logger.ts';

/**
 * A client that closes the connection before its answer is complete (a cancelled upload, a closed
 * tab, a scraper's timeout) is routine, not a server fault: it is logged once, at info, as an abort —
 * never as an "unhandled error" with a 500. The request log line then shows status 499 (the
 * convention nginx made common for "client closed request").
 */

/** Status recorded for a request whose client went away before the answer. */
export const CLIENT_CLOSED_REQUEST = 499;

const abortedRequests = new WeakSet<Request>();

/**
 * Whether `err` is the client going away: the request's signal aborted (the Node adapter aborts it
 * when the connection closes early), or reading the body failed because the socket was closed.
 */
export function isClientAbort(c: Context, err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const aborted = c.req.raw.signal.aborted || (e?.code === 'ECONNRESET' && e.message === 'aborted') || e?.code === 'ERR_STREAM_PREMATURE_CLOSE';
  if (aborted) abortedRequests.add(c.req.raw);
  return aborted;
}

/** The answer to a request whose client is gone (nobody reads it; the status is for logs and metrics). */
export function clientGone(): Response {
  return new Response(null, { status: CLIENT_CLOSED_REQUEST });
}

/** Logs a client abort, during the request or while the response is still being sent. */
export function logClientAborts(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const signal = c.req.raw.signal;
    const log = (phase: 'request' | 'response') =>
      logger.info(
        { requestId: c.get('requestId'), method: c.req.method, route: c.req.routePath ?? 'unmatched', status: c.res.status, phase },
        'client closed the connection before the response was complete',
      );
    if (abortedRequests.has(c.req.raw) || signal.aborted) log('request');
    else signal.addEventListener('abort', () => log('response'), { once: true });
  };
}
