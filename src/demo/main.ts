import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig } from '../config/load.ts';
import { createLogger } from '../observability/logger.ts';
import { composeServices, onShutdownSignal, startService, warnAboutDevSecrets } from '../main.ts';
import { RedisUnavailableError, safeRedisUrl } from '../redis.ts';
import { createDemoContext, type DemoContext, type DemoStep, envValue } from './context.ts';
import { googleCalendarStep } from './google-calendar-step.ts';
import { icalFeedStep } from './ical-step.ts';
import { humanLogLines } from './log-lines.ts';
import { findOnPath, freePort, portInUse, redisAnswers, startPrivateRedis } from './private-redis.ts';
import { removeKeysUnder } from './redis-keys.ts';
import { sandboxStep } from './sandbox-step.ts';
import { describeSeed, seedDemo } from './seed.ts';
import { signInStep } from './sign-in-step.ts';

export { createDemoContext, type DemoContext, type DemoStep } from './context.ts';

/**
 * `npm run demo`: Casebridge on one machine with nothing to set up — embedded PGlite under DATA_DIR,
 * the Redis at REDIS_URL or a private `redis-server`, the sample firms seeded, API and workers in
 * this process — until Ctrl-C.
 *
 * The demo is a list of steps sharing one context (`context.ts`). Later capabilities add a step (in
 * its own file) and a line in `demoSteps`: before `loadConfigStep` to change the environment (as
 * `sandboxStep` starts the provider sandbox and sets SANDBOX_URL), after `startServiceStep` to use
 * the running service (as `signInStep`, `googleCalendarStep` and `icalFeedStep` do, through its HTTP
 * API as a sample user). Steps add what the user should see with `ctx.print` (shown in the final
 * summary) and what must be undone at exit with `ctx.cleanups`.
 */

/** The demo's REDIS_PREFIX unless one is set: its keys never mix with a service started by `npm start`. */
export const DEMO_REDIS_PREFIX = 'cb-demo';

/**
 * Uses the Redis at REDIS_URL, or starts a private redis-server when none answers and one is
 * installed. In a shared Redis the demo keeps to its own prefix (`cb-demo` unless REDIS_PREFIX is
 * set) and removes every key under it — `<prefix>:` and `bull:<prefix>:`, job schedulers included —
 * when it exits: nothing in Redis is needed across runs (the database keeps the sample data).
 */
export const ensureRedisStep: DemoStep = {
  name: 'redis',
  async run(ctx) {
    const url = ctx.env.REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (await redisAnswers(url)) {
      const prefix = envValue(ctx, 'REDIS_PREFIX') ?? DEMO_REDIS_PREFIX;
      ctx.env.REDIS_PREFIX = prefix;
      // Pushed first, so it runs last: after the workers and every connection have stopped.
      ctx.cleanups.push(async () => {
        if (ctx.config) await removeKeysUnder(url, ctx.config.REDIS_PREFIX);
      });
      ctx.print('Redis', `using the Redis at ${safeRedisUrl(url)}; keys under ${prefix}: and bull:${prefix}:, removed when the demo exits`);
      return;
    }
    const executable = findOnPath('redis-server');
    if (!executable) throw new RedisUnavailableError(url, new Error('no answer, and no redis-server on PATH to start one'));
    ctx.progress(`no Redis at ${safeRedisUrl(url)}; starting a private redis-server…`);
    const redis = await startPrivateRedis(executable);
    ctx.env.REDIS_URL = redis.url;
    ctx.cleanups.push(() => redis.stop());
    ctx.print('Redis', `private redis-server (pid ${redis.pid}) at ${redis.url}, stopped when the demo exits`);
  },
};

/**
 * Keeps PORT if set; otherwise 3000, or a free port when 3000 is taken. PORT=0 picks a free port now
 * rather than at listen time, so PUBLIC_BASE_URL (OAuth and SAML return addresses) can name it.
 */
export const choosePortStep: DemoStep = {
  name: 'port',
  async run(ctx) {
    const host = envValue(ctx, 'HOST') ?? '127.0.0.1';
    const port = envValue(ctx, 'PORT');
    if (port === '0') {
      ctx.env.PORT = String(await freePort(host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host));
      return;
    }
    if (port) return;
    if (await portInUse(host, 3000)) {
      const port = await freePort(host);
      ctx.progress(`port 3000 is taken; using ${port}`);
      ctx.env.PORT = String(port);
    } else {
      ctx.env.PORT = '3000';
    }
  },
};

/** Validates the configuration (process.env plus the demo's overrides). */
export const loadConfigStep: DemoStep = {
  name: 'config',
  async run(ctx) {
    // The demo talks to people: warnings only, unless LOG_LEVEL says otherwise.
    ctx.config = loadConfig({ LOG_LEVEL: 'warn', ...process.env, ...ctx.env });
  },
};

/** `./data/pglite` inside the working directory, the absolute path elsewhere. */
function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `./${rel}` : p;
}

/** Opens the database (migrated) and Redis. */
export const openServicesStep: DemoStep = {
  name: 'services',
  async run(ctx) {
    const config = ctx.config!;
    // Log lines as words, among the demo's own lines: a person reads this output, not a log shipper.
    ctx.services = await composeServices(config, { logger: createLogger({ level: config.LOG_LEVEL, destination: humanLogLines(ctx.progress) }) });
    const where =
      config.database.kind === 'postgres'
        ? 'PostgreSQL at DATABASE_URL'
        : config.database.dataDir
          ? `embedded PGlite in ${displayPath(config.database.dataDir)}`
          : 'embedded PGlite in memory (gone at exit)';
    ctx.print('Storage', `database: ${where}`, `documents: ${displayPath(path.resolve(config.DATA_DIR, 'blobs'))}`);
    warnAboutDevSecrets(ctx.services);
  },
};

/** Starts the HTTP API and the workers in this process. */
export const startServiceStep: DemoStep = {
  name: 'service',
  async run(ctx) {
    ctx.running = await startService({ services: ctx.services!, mode: 'all' });
  },
};

/** Seeds the sample firms (idempotent: a second run finds everything unchanged). */
export const seedStep: DemoStep = {
  name: 'seed',
  async run(ctx) {
    const s = ctx.services!;
    ctx.seed = await seedDemo({ db: s.db, blobs: s.blobs, changeFeed: s.changeFeed, logger: s.logger });
    const [heading, ...lines] = describeSeed(ctx.seed);
    ctx.print(heading!, ...lines.map((l) => l.replace(/^ {2}/, '')));
  },
};

/** Where to look, and a first request to try. */
export const urlsStep: DemoStep = {
  name: 'urls',
  async run(ctx) {
    const base = ctx.config!.PUBLIC_BASE_URL;
    const key = ctx.seed?.organizations[0]?.apiKey ?? '<api key>';
    ctx.print(
      'Open',
      `API docs      ${base}/docs`,
      `OpenAPI       ${base}/openapi.json`,
      `health        ${base}/healthz   readiness ${base}/readyz`,
      ctx.running?.metricsUrl
        ? `metrics       ${ctx.running.metricsUrl}/metrics`
        : `metrics       ${ctx.config!.METRICS_TOKEN ? `${base}/metrics (Authorization: Bearer $METRICS_TOKEN)` : 'set METRICS_TOKEN or METRICS_LISTEN to serve them'}`,
      `try           curl -H "Authorization: Bearer ${key}" ${base}/v1/ingest/cases/hk-case-001`,
    );
  },
};

/** The demo's steps, in order. Add a line per capability (see the file comment). */
export const demoSteps: DemoStep[] = [
  ensureRedisStep,
  choosePortStep,
  sandboxStep,
  loadConfigStep,
  openServicesStep,
  startServiceStep,
  seedStep,
  signInStep,
  googleCalendarStep,
  icalFeedStep,
  urlsStep,
];

function printSummary(ctx: DemoContext, out: (line: string) => void): void {
  const lines: string[] = ['', 'Casebridge demo is running.', ''];
  for (const section of ctx.summary) {
    lines.push(section.heading);
    for (const line of section.lines) lines.push(`  ${line}`);
    lines.push('');
  }
  out(lines.join('\n'));
}

/** Closes the service, the services, then the steps' cleanups (private Redis last). */
async function teardown(ctx: DemoContext): Promise<void> {
  await ctx.running?.stop({ graceMs: 5_000 });
  await ctx.services?.close();
  for (const cleanup of [...ctx.cleanups].reverse()) await cleanup();
}

/**
 * Runs every step; on failure undoes what was set up and rethrows. With `exitAfterSetup` (or
 * DEMO_EXIT_AFTER_SETUP=1) it stops after printing the summary, otherwise it runs until SIGINT/SIGTERM.
 */
export async function runDemo(
  options: {
    steps?: DemoStep[];
    env?: Record<string, string | undefined>;
    exitAfterSetup?: boolean;
    /** Where progress and the summary go (default: stdout). */
    output?: (line: string) => void;
  } = {},
): Promise<DemoContext> {
  const out = options.output ?? ((line: string) => console.log(line));
  const ctx = createDemoContext(options.env ?? {}, out);
  out('Casebridge demo: starting the API, the workers and the provider sandbox on this machine…');
  try {
    for (const step of options.steps ?? demoSteps) {
      await step.run(ctx);
    }
  } catch (err) {
    await teardown(ctx).catch(() => {});
    throw err;
  }
  printSummary(ctx, out);
  const exitAfterSetup = options.exitAfterSetup ?? ['1', 'true'].includes(process.env.DEMO_EXIT_AFTER_SETUP ?? '');
  if (exitAfterSetup) {
    await teardown(ctx);
    out('DEMO_EXIT_AFTER_SETUP is set: stopped after setup.');
    return ctx;
  }
  out('Press Ctrl-C to stop.');
  onShutdownSignal(async () => {
    out('\nstopping…');
    await teardown(ctx);
  });
  return ctx;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const ctx = await runDemo();
    // Stopped after setup: leave now rather than wait for stray timers of libraries.
    if (!ctx.running?.server.listening) process.exit(0);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RedisUnavailableError) {
      console.error(err.message);
      process.exit(2);
    }
    console.error(`the demo could not start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
