import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import type { DatabaseTarget } from '../config/load.ts';
import { acquireDataDirLock } from './data-dir-lock.ts';
import type { DB } from './types.ts';

export type Db = Kysely<DB>;
export type Tx = Transaction<DB>;

/** OIDs whose default parsing differs between node-postgres and PGlite; we pin one behaviour for both. */
const INT8 = 20;
const DATE = 1082;

/** node-postgres, loaded only when PostgreSQL is used (embedded deployments and the CLI on PGlite never load it). */
async function loadPg(): Promise<typeof import('pg').default> {
  const pg = (await import('pg')).default;
  pg.types.setTypeParser(INT8, (v) => Number(v)); // counters and sequence numbers stay far below 2^53
  pg.types.setTypeParser(DATE, (v) => v); // a calendar date is a string, never a UTC midnight
  return pg;
}

/**
 * Appended to a statement's text: on PostgreSQL the statement is sent as a named prepared statement,
 * parsed, analysed and planned once per connection instead of on every execution (after five runs the
 * server may keep one generic plan). For hot statements whose text never varies (only their
 * parameters) and that return no rows or always the same columns: a cached plan whose result type
 * changed under a migration fails. A comment on PGlite.
 */
export const PREPARED = '/* prepared */';

/** Statement names by text: a bounded set (texts beyond it are sent unnamed, never prepared). */
const preparedNames = new Map<string, string>();
const MAX_PREPARED = 32;

function preparedName(text: string): string | null {
  let name = preparedNames.get(text);
  if (name === undefined) {
    if (preparedNames.size >= MAX_PREPARED) return null;
    name = `cb_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    preparedNames.set(text, name);
  }
  return name;
}

/** Whether the text ends with {@link PREPARED} (white space after it allowed); only its tail is read. */
function isMarked(text: string): boolean {
  const tail = text.slice(-(PREPARED.length + 64));
  const at = tail.lastIndexOf(PREPARED);
  return at >= 0 && tail.slice(at + PREPARED.length).trim() === '';
}

/**
 * Sends the statements marked {@link PREPARED} of this connection as named statements (node-postgres
 * parses a name once per connection). The client's own `query` is looked up on every call, so that
 * wrappers installed on the prototype later (benchmarks' counters) still see every statement.
 */
function prepareMarked(client: import('pg').PoolClient): void {
  const proto = Object.getPrototypeOf(client) as { query: (...args: unknown[]) => unknown };
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: unknown, ...args: unknown[]) {
    const [text, values] = args;
    if (typeof text === 'string' && isMarked(text) && (args.length === 1 || Array.isArray(values)) && args.length <= 2) {
      const name = preparedName(text);
      if (name) return proto.query.call(this, { name, text, values });
    }
    return proto.query.apply(this, args);
  };
}

/** An open database handle plus how to close it. */
export interface Database {
  db: Db;
  kind: DatabaseTarget['kind'];
  /** The schema the tables live in when not the default (tests give each file its own). */
  schema?: string;
  close(): Promise<void>;
}

/** How the database is opened beyond its target. */
export interface OpenOptions {
  /** Named in the data-directory lock (data-dir-lock.ts). */
  command?: string;
  /**
   * PGlite only: server settings for this start (`-c name=value` after PGlite's default start
   * parameters), e.g. a smaller `shared_buffers` for a short-lived CLI process. Nothing is written
   * to the data directory's postgresql.conf; the next start has its defaults again.
   */
  pgliteSettings?: Record<string, string>;
}

/**
 * Opens PostgreSQL (pooled) or an embedded PGlite with the same SQL dialect. `schema` sets the search
 * path, so tests can give each file its own schema on a shared server. An on-disk PGlite directory
 * is locked first (see data-dir-lock.ts): while another live process has it open this throws
 * DataDirLockedError and opens nothing; the lock is released when the database is closed.
 */
export async function openDatabase(target: DatabaseTarget, options: OpenOptions = {}): Promise<Database> {
  if (target.kind === 'postgres') {
    const pg = await loadPg();
    const pool = new pg.Pool({
      connectionString: target.url,
      max: 10,
      ...(target.schema ? { options: `-c search_path=${target.schema}` } : {}),
    });
    // A backend that ends under a connection (pg_terminate_backend, a failover, a proxy dropping idle
    // sockets) is an `error` event: on the pool when the connection was idle (the pool drops it), on
    // the client when it was checked out between two statements of a transaction (its next statement
    // fails, and the pool drops it on release). Unheard, either event would be thrown and end the process.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      client.on('error', () => undefined);
      prepareMarked(client);
    });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', ...(target.schema ? { schema: target.schema } : {}), close: () => db.destroy() };
  }
  if (target.dataDir) fs.mkdirSync(target.dataDir, { recursive: true });
  const lock = target.dataDir ? acquireDataDirLock(target.dataDir, options) : null;
  let client: PGlite;
  let PGliteDialect: typeof import('kysely-pglite-dialect').PGliteDialect;
  try {
    // PGlite (its WebAssembly and extensions) is imported only when used: PostgreSQL deployments never load it.
    const [{ PGlite: PGliteClass }, dialect] = await Promise.all([import('@electric-sql/pglite'), import('kysely-pglite-dialect')]);
    PGliteDialect = dialect.PGliteDialect;
    const settings = Object.entries(options.pgliteSettings ?? {});
    client = await PGliteClass.create(target.dataDir ?? 'memory://', {
      parsers: { [INT8]: (v: string) => Number(v), [DATE]: (v: string) => v },
      serializers: {},
      // Given start parameters replace PGlite's defaults, so those come first.
      ...(settings.length ? { startParams: [...PGliteClass.defaultStartParams, ...settings.flatMap(([name, value]) => ['-c', `${name}=${value}`])] } : {}),
    });
  } catch (err) {
    lock?.release();
    throw err;
  }
  const db = new Kysely<DB>({ dialect: new PGliteDialect(client) });
  return {
    db,
    kind: 'pglite',
    async close() {
      try {
        await db.destroy();
      } finally {
        lock?.release();
      }
    },
  };
}
