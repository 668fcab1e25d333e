import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of this process, served at /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

export const httpRequests = new Counter({
  name: 'casebridge_http_requests_total',
  help: 'HTTP requests by method, route and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpDuration = new Histogram({
  name: 'casebridge_http_request_duration_seconds',
  help: 'HTTP request duration by route',
  labelNames: ['method', 'route'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

export const transfersTotal = new Counter({
  name: 'casebridge_transfers_total',
  help: 'Transfers through the outbound gate by platform, direction and outcome',
  labelNames: ['platform', 'direction', 'outcome'] as const,
  registers: [metricsRegistry],
});

/*
 * Operational metrics of the sync pipeline (issue 19). Label values are bounded: platform ids come
 * from the connector registry, status and error classes from the small sets below, queue names from
 * queues/definitions.ts. No label carries a token, an account, a case or a person. Gauges that read
 * shared state (queues, the transfer log) are collected on scrape by `state-metrics.ts`.
 */

/** Seconds buckets for waits that run from sub-second to an hour. */
const LAG_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export const syncLag = new Histogram({
  name: 'casebridge_sync_lag_seconds',
  help: 'Time from a committed case-data change (ingest) to the end of the provider writes of the run it triggered, by platform',
  labelNames: ['platform'] as const,
  buckets: LAG_BUCKETS,
  registers: [metricsRegistry],
});

export const providerCalls = new Counter({
  name: 'casebridge_provider_calls_total',
  help: 'Provider calls made through the outbound gate by platform, HTTP status class (2xx…5xx, none) and error class',
  labelNames: ['platform', 'status_class', 'error_class'] as const,
  registers: [metricsRegistry],
});

export const providerCallDuration = new Histogram({
  name: 'casebridge_provider_call_duration_seconds',
  help: 'Duration of provider calls made through the outbound gate, by platform',
  labelNames: ['platform'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [metricsRegistry],
});

export const rateLimitWaits = new Histogram({
  name: 'casebridge_rate_limit_wait_seconds',
  help: 'Waits imposed by rate limits, by platform and source (limiter: our own budget; provider: a "slow down" answer)',
  labelNames: ['platform', 'source'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
  registers: [metricsRegistry],
});

export const tokenRefreshFailures = new Counter({
  name: 'casebridge_token_refresh_failures_total',
  help: 'Failed OAuth token refreshes by platform and reason (grant_revoked, no_refresh_token, provider_error, wait_timeout)',
  labelNames: ['platform', 'reason'] as const,
  registers: [metricsRegistry],
});

export const revocationAccepted = new Histogram({
  name: 'casebridge_revocation_accept_seconds',
  help: 'Time from a revocation request to its answer (202: connections revoked, in-flight transfers drained)',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  registers: [metricsRegistry],
});

export const revocationReceipt = new Histogram({
  name: 'casebridge_revocation_receipt_seconds',
  help: 'Time from a revocation request to its signed receipt (provider-side clean-up done)',
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600],
  registers: [metricsRegistry],
});

/*
 * Contention between worker processes (issue 18): what several processes working for the same
 * organizations and connections cost each other. Without labels: per process, summed by the scraper.
 */

export const transferLogAppends = new Counter({
  name: 'casebridge_transfer_log_append_statements_total',
  help: 'Append statements sent to the transfer log (each one compare-and-swap of an organization chain head, with one or more rows)',
  registers: [metricsRegistry],
});

export const transferLogAppendConflicts = new Counter({
  name: 'casebridge_transfer_log_append_conflicts_total',
  help: 'Transfer-log append statements that inserted nothing because another process had moved the organization chain head (the rows are chained again and resent)',
  registers: [metricsRegistry],
});

export const syncRunLockBusy = new Counter({
  name: 'casebridge_sync_run_lock_busy_total',
  help: 'Sync jobs that found the connection run lock held (by a run in another worker) and went back to the queue delayed',
  registers: [metricsRegistry],
});

/** `2xx` … `5xx` for an HTTP status, `none` when the call got no HTTP answer. */
export function statusClass(status: number | null | undefined): string {
  return typeof status === 'number' && status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : 'none';
}

/**
 * A bounded error class for a provider call: `none` (success), `rate_limited` (429), `auth` (401),
 * `http` (another error answer), or how a call without an answer ended (`timeout`,
 * `connection_failed`, `connection_lost`, `other`).
 */
export function providerErrorClass(params: { ok: boolean; status: number | null; network: string | null }): string {
  if (params.ok) return 'none';
  if (params.network) return params.network;
  if (params.status === 429) return 'rate_limited';
  if (params.status === 401) return 'auth';
  if (params.status !== null) return 'http';
  return 'other';
}

/** Per-connection lag kept in a bounded way: the few slowest connections of a recent window. */
const SLOWEST_KEPT = 10;
const SLOWEST_WINDOW_MS = 15 * 60_000;
const recentLag = new Map<string, { seconds: number; at: number }>();

export const syncLagSlowest = new Gauge({
  name: 'casebridge_sync_lag_slowest_seconds',
  help: `Sync lag of the ${SLOWEST_KEPT} slowest connections of the last 15 minutes in this process (at most ${SLOWEST_KEPT} series)`,
  labelNames: ['connection_id'] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    const now = Date.now();
    for (const [id, v] of recentLag) if (now - v.at > SLOWEST_WINDOW_MS) recentLag.delete(id);
    const top = [...recentLag].sort((a, b) => b[1].seconds - a[1].seconds).slice(0, SLOWEST_KEPT);
    for (const [id, v] of top) this.set({ connection_id: id }, v.seconds);
  },
});

/** Records the lag of one run's writes: the platform histogram and the bounded per-connection view. */
export function observeSyncLag(params: { platform: string; connectionId: string; seconds: number }): void {
  const seconds = Math.max(0, params.seconds);
  syncLag.observe({ platform: params.platform }, seconds);
  const prev = recentLag.get(params.connectionId);
  const now = Date.now();
  // The window's worst value per connection; the map is pruned to the kept few plus recent arrivals.
  if (!prev || now - prev.at > SLOWEST_WINDOW_MS || seconds >= prev.seconds) recentLag.set(params.connectionId, { seconds, at: now });
  if (recentLag.size > SLOWEST_KEPT * 20) {
    const keep = [...recentLag].sort((a, b) => b[1].seconds - a[1].seconds).slice(0, SLOWEST_KEPT);
    recentLag.clear();
    for (const [id, v] of keep) recentLag.set(id, v);
  }
}
