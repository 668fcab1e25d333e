import { type Kysely, sql } from 'kysely';

/**
 * Splits a migration script into statements and runs them one by one. PGlite's extended-protocol
 * `query` takes a single statement, so multi-statement scripts are split here: on `;` at the end of a
 * line, outside `$$ … $$` bodies (plpgsql functions) and outside `--` comments.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  let inDollar = false;
  for (const rawLine of script.split('\n')) {
    const line = inDollar ? rawLine : rawLine.replace(/--.*$/, '');
    const dollars = (line.match(/\$\$/g) ?? []).length;
    if (dollars % 2 === 1) inDollar = !inDollar;
    current += `${line}\n`;
    if (!inDollar && /;\s*$/.test(line)) {
      const stmt = current.trim().replace(/;$/, '').trim();
      if (stmt) statements.push(stmt);
      current = '';
    }
  }
  const rest = current.trim();
  if (rest) statements.push(rest);
  return statements;
}

/** Runs every statement of a parameterless SQL script in order. */
export async function runSql(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of splitStatements(script)) {
    await sql.raw(statement).execute(db);
  }
}
