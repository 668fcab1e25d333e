import { type DatabaseIntrospector, Migrator, type MigrationResultSet, sql, type TableMetadata } from 'kysely';
import type { Db } from './database.ts';
import { migrations } from './migrations/index.ts';

/**
 * Applies every pending migration; throws with the failing migration's name on error. `schema`
 * keeps Kysely's bookkeeping tables beside the data: without it the Migrator looks for its lock
 * table in any schema and several schemas on one server (parallel test files) trip over each other.
 */
export async function migrateToLatest(db: Db, options: { schema?: string } = {}): Promise<string[]> {
  const migrator = new Migrator({
    db: options.schema ? introspectingOnly(db, options.schema) : db,
    provider: { getMigrations: async () => migrations },
    ...(options.schema ? { migrationTableSchema: options.schema } : {}),
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${(result.error as Error).message ?? String(result.error)}`);
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Whether every migration is already recorded: one query, where the Migrator takes its lock and
 * introspects the catalog first. Commands that open the database for a moment (the CLI) ask this
 * before migrating. False when the bookkeeping table does not exist yet (a new database).
 */
export async function migrationsApplied(db: Db): Promise<boolean> {
  try {
    const names = Object.keys(migrations);
    const { rows } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM kysely_migration WHERE name IN (${sql.join(names)})`.execute(db);
    return Number(rows[0]?.n) === names.length;
  } catch {
    return false;
  }
}

/**
 * The database as the Migrator sees it, with introspection limited to one schema. The Migrator only
 * asks whether its schema and bookkeeping tables exist, but Kysely's PostgreSQL introspector lists
 * every column of every schema and resolves each table by name (pg_get_serial_sequence): a schema
 * another process drops meanwhile — parallel test files or benchmarks cleaning up on a shared
 * server — failed the whole migration with "schema … does not exist". Everything else is the real
 * instance (methods bound to it, since Kysely keeps its state in private fields).
 */
function introspectingOnly(db: Db, schema: string): Db {
  const tables = async (): Promise<TableMetadata[]> => {
    const { rows } = await sql<{ name: string }>`
      SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'p', 'v')`.execute(db);
    return rows.map((r) => ({ name: r.name, schema, isView: false, columns: [] }));
  };
  const introspection: DatabaseIntrospector = {
    async getSchemas() {
      const { rows } = await sql<{ name: string }>`SELECT nspname AS name FROM pg_catalog.pg_namespace WHERE nspname = ${schema}`.execute(db);
      return rows;
    },
    getTables: tables,
    async getMetadata() {
      return { tables: await tables() };
    },
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'introspection') return introspection;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
