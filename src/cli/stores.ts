import v8 from 'node:v8';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { Config } from '../config/load.ts';
import type { Db } from '../db/database.ts';
import { UsageError } from './usage-error.ts';

// Kysely, zod, the database and migration code are imported by the functions that use them, when a
// command runs: a command module imports this file, and `casebridge org --help` loads no more than
// the command definitions (see the module-list test in test/integration/cli-shell.test.ts).

/** The database (migrated) and blob store, without Redis: enough for administrative commands. */
export interface CliStores {
  db: Db;
  blobs: BlobStore;
  /** Migrations this opening applied. */
  applied: string[];
  close(): Promise<void>;
}

/**
 * Opens what `org`, `apikey`, `user`, `db` and `seed` commands need. They do not need Redis, so they
 * work before Redis is up (first install, a migration job in docker-compose) and print nothing but
 * their own output (no log lines in `--json` answers).
 */
export async function openCliStores(config: Config): Promise<CliStores> {
  if (config.database.kind === 'pglite') quickWasmStart();
  const [{ openDatabase }, { migrateToLatest, migrationsApplied }, { blobStoreFor }] = await Promise.all([
    import('../db/database.ts'),
    import('../db/migrate.ts'),
    import('../blobs/blob-store.ts'),
  ]);
  const database = await openDatabase(config.database, { pgliteSettings: CLI_PGLITE_SETTINGS });
  try {
    // The one-query check first: an up-to-date database (the usual case) skips the Migrator's lock and catalog scan.
    // On PostgreSQL, migrate the schema the connection works in (a search_path in DATABASE_URL's
    // options included): left unnamed, the migrator finds its bookkeeping tables in any schema of
    // the server and skips creating them in this one.
    const schema = database.schema ?? (database.kind === 'postgres' ? await currentSchema(database.db) : undefined);
    const applied = (await migrationsApplied(database.db)) ? [] : await migrateToLatest(database.db, { schema });
    return {
      db: database.db,
      blobs: blobStoreFor(config),
      applied,
      close: () => database.close(),
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}

export { UsageError } from './usage-error.ts';

/**
 * A CLI command is a short-lived process: V8's background recompilation of PGlite's hot WebAssembly
 * functions with its optimizing compiler (TurboFan) costs more CPU than a command ever wins back
 * (measured on `org list`: 0.81 s of CPU with it, 0.48 s without; see BENCHMARKS.md, CLI start-up).
 * The baseline compiler (Liftoff) alone is used. Set before PGlite compiles its module; the
 * long-running service keeps the default.
 */
function quickWasmStart(): void {
  v8.setFlagsFromString('--liftoff-only');
}

/**
 * PGlite settings for a CLI process. A 16 MB buffer pool instead of PostgreSQL's default 128 MB:
 * PGlite initialises the whole pool at start, which a one-query command pays for and never uses
 * (`org list`: ~0.09 s less CPU and ~115 MB less memory; see BENCHMARKS.md, CLI start-up). Only for
 * this start (the data directory's configuration is not changed); the service keeps the default.
 */
export const CLI_PGLITE_SETTINGS: Record<string, string> = { shared_buffers: '16MB' };

async function currentSchema(db: Db): Promise<string | undefined> {
  const { sql } = await import('kysely');
  const { rows } = await sql<{ schema: string | null }>`SELECT current_schema() AS schema`.execute(db);
  return rows[0]?.schema ?? undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A required string option, or a UsageError naming it. */
export function requireOption(args: Record<string, unknown>, name: string, what: string): string {
  const v = args[name];
  if (typeof v !== 'string' || !v.trim()) throw new UsageError(`--${name} ${what} is required`);
  return v.trim();
}

/** A required e-mail option, lower-cased, or a UsageError naming it. */
export async function requireEmail(args: Record<string, unknown>, name: string): Promise<string> {
  const email = requireOption(args, name, 'E').toLowerCase();
  const { z } = await import('zod');
  if (!z.email().safeParse(email).success) throw new UsageError(`--${name}: "${email}" is not an e-mail address`);
  return email;
}

/** The id of an existing organization given by --org; a clear error otherwise. */
export async function requireOrganization(db: Db, args: Record<string, unknown>): Promise<{ id: string; name: string }> {
  const id = requireOption(args, 'org', 'ID');
  const org = UUID.test(id) ? await db.selectFrom('organizations').select(['id', 'name']).where('id', '=', id).executeTakeFirst() : undefined;
  if (!org) throw new UsageError(`no organization with id ${id} (see: casebridge org list)`);
  return org;
}

/**
 * Runs a command body with the stores open and closes them after. A UsageError it throws reaches
 * the CLI's handler, which prints it and exits 2; other errors exit 1.
 */
export async function withStores(config: Config, body: (stores: CliStores) => Promise<unknown>): Promise<number> {
  const stores = await openCliStores(config);
  try {
    const code = await body(stores);
    return typeof code === 'number' ? code : 0;
  } finally {
    await stores.close();
  }
}
