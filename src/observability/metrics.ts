import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

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
