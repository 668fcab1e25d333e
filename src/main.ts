import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { subscribeSyncToChanges } from '../queues/change-routing.ts';
import { startWorkers, type Workers } from '../queues/index.ts';
import { createApp } from './api/app.ts';
import { errorBody } from './api/errors.ts';
import { metricsListenerFetch } from './api/metrics-endpoint.ts';
import { parseListen } from './config/listen-address.ts';
import { type Config, ConfigError, loadConfig } from './config/load.ts';
import { DataDirLockedError } from './db/data-dir-lock.ts';
import { startTracing, type Tracing } from './observability/tracing.ts';
import { RedisUnavailableError } from './redis.ts';
import { type CreateServicesOptions, createServices, type Services } from './services.ts';

/**
 * `tsx src/main.ts api|worker|all`: the service's process entry.
 * - `api`: the HTTP API (plus workers only when RUN_WORKERS=true);
 * - `worker`: the BullMQ workers, with /healthz, /readyz (and /metrics with METRICS_TOKEN) on PORT for orchestrators;
 * - `all` (`npm start`): both, for small installs (RUN_WORKERS=false turns the workers off).
 */

export type Mode = 'api' | 'worker' | 'all';

/** A started process: where it listens and how to stop it gracefully. */
export interface RunningService {
  /** Base URL the HTTP server listens on. */
  url: string;
  server: Server;
  /** The `METRICS_LISTEN` listener's base URL, when one is configured. */
  metricsUrl: string | null;
  workers: Workers | null;
  /**
   * Readiness turns false, the server stops accepting and in-flight requests finish (up to `graceMs`,
   * default SHUTDOWN_GRACE_SECONDS); the workers stop taking jobs, running ones finish or are handed
   * back to the queue after the grace. Services stay open.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/**
 * The composition root: opens the shared handles (src/services.ts) and wires what depends on the
 * connectors — committed case changes enqueue one deduplicated run per affected connection. Every
 * process entry (API, workers, demo, the test support) builds its services here; nothing below
 * `src/main.ts` imports it.
 */
export async function composeServices(config: Config, options: CreateServicesOptions = {}): Promise<Services> {
  const services = await createServices(config, options);
  const unsubscribe = subscribeSyncToChanges({ db: services.db, changeFeed: services.changeFeed, queues: services.queues, logger: services.logger });
  const close = services.close.bind(services);
  services.close = async () => {
    unsubscribe();
    await close();
  };
  return services;
}

/** Paths a worker-only process answers (everything else is 404 there). */
const WORKER_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Whether this mode runs the workers, given RUN_WORKERS. */
export function runsWorkers(mode: Mode, runWorkers: boolean | undefined): boolean {
  if (mode === 'worker') return true;
  if (mode === 'all') return runWorkers !== false;
  return runWorkers === true;
}

function listen(params: { fetch: (req: Request) => Response | Promise<Response>; host: string; port: number }): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: params.fetch, hostname: params.host, port: params.port }, () => resolve(server as Server));
    (server as Server).once('error', reject);
  });
}

/**
 * Starts the HTTP server (all modes; a worker serves health and metrics only) and, per the mode, the
 * workers, on already created services.
 */
export async function startService(params: { services: Services; mode: Mode }): Promise<RunningService> {
  const { services, mode } = params;
  const { config, logger } = services;
  const app = createApp(services);
  let workers: Workers | null = null;
  let stopping = false;
  // Readiness turns false as soon as shutdown begins (before anything closes), so a load balancer or
  // orchestrator stops routing here; a worker process's health says whether its workers consume.
  const fetch = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (mode === 'worker' && !WORKER_PATHS.has(path)) {
      return Response.json(errorBody('route_not_found', 'this is a worker process; the API runs elsewhere'), { status: 404 });
    }
    if (path === '/readyz' && stopping) return Response.json({ status: 'shutting_down' }, { status: 503 });
    if (mode === 'worker' && (path === '/healthz' || path === '/readyz')) {
      if (!workers) return Response.json({ status: 'starting' }, { status: 503 });
      const res = await app.fetch(req);
      if (path === '/readyz' && stopping) return Response.json({ status: 'shutting_down' }, { status: 503 });
      const health = workers.health();
      const body = (await res.json()) as { status: string };
      const ok = res.ok && health.consuming;
      const status = ok ? body.status : path === '/healthz' ? 'not_consuming' : 'not_ready';
      return Response.json({ ...body, status, workers: health }, { status: ok ? 200 : 503 });
    }
    return app.fetch(req);
  };
  const server = await listen({ fetch, host: config.HOST, port: config.PORT });
  const address = server.address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  let metricsServer: Server | null = null;
  let metricsUrl: string | null = null;
  try {
    const metricsAt = config.METRICS_LISTEN ? parseListen(config.METRICS_LISTEN) : null;
    if (metricsAt) {
      metricsServer = await listen({ fetch: metricsListenerFetch, ...metricsAt });
      const port = (metricsServer.address() as AddressInfo).port;
      metricsUrl = `http://${metricsAt.host.includes(':') ? `[${metricsAt.host}]` : metricsAt.host}:${port}`;
    }
    if (runsWorkers(mode, config.RUN_WORKERS)) workers = await startWorkers(services);
  } catch (err) {
    server.close();
    metricsServer?.close();
    throw err;
  }
  logger.info({ mode, url, metricsUrl, workers: workers !== null }, 'casebridge started');
  return {
    url,
    server,
    metricsUrl,
    workers,
    async stop(options = {}) {
      stopping = true;
      const graceMs = options.graceMs ?? config.SHUTDOWN_GRACE_SECONDS * 1000;
      // server.close() stops accepting and resolves once in-flight requests are answered; idle
      // keep-alive sockets would hold it open, so they are closed now and stragglers after the grace.
      const closeHttp = async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const grace = setTimeout(() => server.closeAllConnections(), graceMs);
        await closed;
        clearTimeout(grace);
        if (metricsServer) {
          const server = metricsServer;
          const metricsClosed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeAllConnections();
          await metricsClosed;
        }
      };
      // Workers stop taking jobs at once; running ones get the grace, then go back to the queue.
      // A worker process keeps answering its health checks (not ready) until its workers are closed.
      if (mode === 'worker') {
        await workers?.close({ graceMs });
        await closeHttp();
      } else await Promise.all([closeHttp(), workers?.close({ graceMs })]);
    },
  };
}

/**
 * Calls `shutdown` on the first SIGTERM or SIGINT; a second signal exits at once (status 1) for an
 * operator who does not want to wait.
 */
export function onShutdownSignal(shutdown: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    shutdown(signal).then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** Logs where to look and warns about development secrets. */
export function announce(params: { services: Services; running: RunningService; mode: Mode }): void {
  const { services, running, mode } = params;
  const { logger, config } = services;
  if (mode !== 'worker') {
    logger.info(
      { api: config.PUBLIC_BASE_URL, listening: running.url, docs: `${config.PUBLIC_BASE_URL}/docs`, health: `${config.PUBLIC_BASE_URL}/healthz` },
      `Casebridge API on ${running.url} (public ${config.PUBLIC_BASE_URL}); docs ${config.PUBLIC_BASE_URL}/docs`,
    );
  } else {
    logger.info({ listening: running.url }, `Casebridge workers running; health on ${running.url}/healthz`);
  }
  warnAboutDevSecrets(services);
}

export function warnAboutDevSecrets(services: Pick<Services, 'config' | 'logger'>): void {
  const { config, logger } = services;
  if (config.usingDevSecrets.length) {
    logger.warn(
      { variables: config.usingDevSecrets },
      `using development defaults for ${config.usingDevSecrets.join(', ')}; set real values before exposing this service`,
    );
  }
}

function parseMode(arg: string | undefined): Mode | null {
  return arg === 'api' || arg === 'worker' || arg === 'all' ? arg : arg === undefined ? 'all' : null;
}

/** The process entry: config, services, server and workers, graceful shutdown. Returns an exit code on failure to start. */
export async function main(argv: string[]): Promise<number | null> {
  const mode = parseMode(argv[0]);
  if (!mode) {
    process.stderr.write('usage: tsx src/main.ts api|worker|all\n');
    return 2;
  }
  let config: Config;
  let services: Services;
  let tracing: Tracing | null = null;
  try {
    config = loadConfig();
    // Before anything opens a span: off (null) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
    tracing = startTracing(config, { processName: mode });
    services = await composeServices(config);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RedisUnavailableError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof DataDirLockedError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let running: RunningService;
  try {
    running = await startService({ services, mode });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(
      e.code === 'EADDRINUSE' ? `port ${config.PORT} on ${config.HOST} is in use; set PORT to a free one\n` : `failed to start: ${e.message}\n`,
    );
    await services.close();
    return 1;
  }
  announce({ services, running, mode });
  let shuttingDown = false;
  process.on('unhandledRejection', (err) => {
    // While the workers close, BullMQ can leave a job's last outcome unobserved: the sync worker's
    // DelayedError (its hand-back at a chunk boundary, already done), or a late write of a job handed
    // back after the grace (its lock is gone). The process is ending: log, carry on. Otherwise Node's
    // default holds: log and exit.
    if (shuttingDown) {
      services.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'rejection while shutting down');
      return;
    }
    services.logger.fatal({ err }, 'unhandled promise rejection');
    process.exit(1);
  });
  onShutdownSignal(async (signal) => {
    shuttingDown = true;
    const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
    services.logger.info({ signal, graceMs }, 'shutting down: not ready, no new requests or jobs, finishing in-flight work');
    // Should closing hang (a connection that never answers), the process still ends.
    setTimeout(() => {
      process.stderr.write('shutdown did not finish in time: exiting\n');
      process.exit(1);
    }, graceMs + 15_000).unref();
    await running.stop({ graceMs });
    // Jobs handed back after the grace may still hold a database client or a provider call; closing
    // waits for them only briefly, the process is about to end anyway.
    await Promise.race([services.close(), new Promise((r) => setTimeout(r, 2000).unref())]);
    await tracing?.shutdown().catch(() => undefined);
    services.logger.info({ signal }, 'shut down');
  });
  return null;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const code = await main(process.argv.slice(2));
  if (code !== null) process.exit(code);
}
