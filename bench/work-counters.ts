import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Redis } from 'ioredis';

/**
 * Work counted in this process while a benchmark's subject runs, measures that survive a loaded
 * machine better than wall-clock time: CPU time (process.cpuUsage), SQL statements sent over
 * node-postgres (every `Client#query`, BEGIN/COMMIT included; PGlite is not counted) and Redis
 * commands (every ioredis command, those inside MULTI and pipelines included, BullMQ's too).
 */

interface Tally {
  sql: number;
  sqlByKind: Map<string, number>;
  redis: Map<string, number>;
}

let active: Tally | null = null;
let installed: Promise<void> | null = null;

/** Kinds of statement texts already seen: the same few texts come back thousands of times a run. */
const kinds = new Map<string, string>();

/** A statement's verb and table, e.g. `insert into "transfer_log"`, for telling the statements apart. */
function statementKind(arg: unknown): string {
  const text = typeof arg === 'string' ? arg : ((arg as { text?: string } | null)?.text ?? '');
  let kind = kinds.get(text);
  if (kind === undefined) {
    kind = kindOf(text);
    if (kinds.size < 10_000) kinds.set(text, kind);
  }
  return kind;
}

function kindOf(text: string): string {
  const m = /^\s*(select|insert into|update|delete from|with|begin|commit|rollback|set|savepoint|release)\b(?:.*?\bfrom\b)?\s*("?[\w.]+"?)?/is.exec(text);
  return m ? `${m[1]!.toLowerCase()} ${m[2] ?? ''}`.trim() : text.slice(0, 30);
}

/** Hooks node-postgres and ioredis once (cheap when nothing is counting). */
function install(): Promise<void> {
  installed ??= (async () => {
    const proto = Redis.prototype as unknown as { sendCommand(command: { name: string }, ...rest: unknown[]): unknown };
    const send = proto.sendCommand;
    proto.sendCommand = function (this: unknown, command: { name: string; args?: unknown[] }, ...rest: unknown[]) {
      if (active) {
        // Script calls told apart by the first 8 hex digits of the script's SHA-1 (BullMQ's and ours).
        const name = command.name === 'evalsha' ? `evalsha ${String(command.args?.[0] ?? '').slice(0, 8)}` : command.name;
        active.redis.set(name, (active.redis.get(name) ?? 0) + 1);
      }
      return send.call(this, command, ...rest);
    };
    const pg = (await import('pg')).default;
    const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
    pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
      if (active) {
        active.sql += 1;
        const kind = statementKind(args[0]);
        active.sqlByKind.set(kind, (active.sqlByKind.get(kind) ?? 0) + 1);
      }
      return query.apply(this, args);
    } as typeof pg.Client.prototype.query;
  })();
  return installed;
}

export interface CountedWork {
  cpuMs: number;
  sqlStatements: number;
  redisCommands: number;
  redisByCommand: Record<string, number>;
  sqlByKind: Record<string, number>;
}

/** Starts counting; `stop()` returns what was counted since. One count at a time. */
export async function countWork(): Promise<{ stop(): CountedWork }> {
  await install();
  const tally: Tally = { sql: 0, sqlByKind: new Map(), redis: new Map() };
  active = tally;
  const cpu = process.cpuUsage();
  return {
    stop() {
      const used = process.cpuUsage(cpu);
      if (active === tally) active = null;
      const byCommand = Object.fromEntries([...tally.redis.entries()].sort((a, b) => b[1] - a[1]));
      return {
        cpuMs: (used.user + used.system) / 1000,
        sqlStatements: tally.sql,
        redisCommands: [...tally.redis.values()].reduce((a, b) => a + b, 0),
        redisByCommand: byCommand,
        sqlByKind: Object.fromEntries([...tally.sqlByKind.entries()].sort((a, b) => b[1] - a[1])),
      };
    },
  };
}

/** Per-write figures of a count (rounded for reading). */
export function perWrite(work: CountedWork, writes: number): Record<string, number | Record<string, number>> {
  const r = (n: number) => Math.round((n / Math.max(1, writes)) * 1000) / 1000;
  return {
    cpuMsPerWrite: r(work.cpuMs),
    sqlStatementsPerWrite: r(work.sqlStatements),
    redisCommandsPerWrite: r(work.redisCommands),
    redisPerWriteByCommand: Object.fromEntries(Object.entries(work.redisByCommand).map(([k, v]) => [k, r(v)])),
    sqlPerWriteByKind: Object.fromEntries(Object.entries(work.sqlByKind).map(([k, v]) => [k, r(v)])),
  };
}

/**
 * With BENCH_CPU_PROFILE=file.cpuprofile (or the file given), a V8 CPU profile of this process from
 * now until `stop()` (open it in Chrome DevTools, or read its self times); otherwise nothing.
 */
export async function profileIfAsked(file = process.env.BENCH_CPU_PROFILE): Promise<{ stop(): Promise<void> }> {
  if (!file) return { stop: async () => undefined };
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      fs.writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
