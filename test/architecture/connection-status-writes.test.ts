import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, stripComments, tsFiles } from './source-files.ts';

/** The one module allowed to write `connections.status`: the lifecycle's state machine. */
const OWNER = path.normalize('src/connections/state-machine.ts');

/**
 * Every `updateTable('connections')` statement (up to its execute call) whose `set` names the
 * status column, by file and line.
 */
function statusWrites(file: string, source: string): string[] {
  const code = stripComments(source);
  const hits: string[] = [];
  for (const m of code.matchAll(/updateTable\(\s*['"]connections['"]\s*\)/g)) {
    const rest = code.slice(m.index);
    const end = rest.search(/\.execute(TakeFirst|TakeFirstOrThrow)?\s*\(/);
    const statement = end < 0 ? rest.slice(0, 2000) : rest.slice(0, end);
    const set = /\.set\(([\s\S]*?)\)\s*\./.exec(statement)?.[1] ?? statement;
    if (/\bstatus\b/.test(set)) hits.push(`${file}:${code.slice(0, m.index).split('\n').length}`);
  }
  return hits;
}

describe('architecture: the connections module owns connections.status', () => {
  it('no module but the state machine updates connections.status', () => {
    const files = ['src', 'connectors', 'queues'].flatMap((d) => tsFiles(d)).filter((f) => f !== OWNER);
    const offenders = files.flatMap((f) => statusWrites(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('recognizes a status write, and a write of other columns as none', () => {
    expect(statusWrites('x.ts', "db.updateTable('connections').set({ status: 'paused' }).where('id', '=', id).execute()")).toHaveLength(1);
    expect(statusWrites('x.ts', "db.updateTable('connections').set({ last_error: null }).where('status', '=', 'active').execute()")).toEqual([]);
  });

  it('finds the writes in the state machine itself (the check is not blind)', () => {
    expect(statusWrites(OWNER, fs.readFileSync(path.join(ROOT, OWNER), 'utf8')).length).toBeGreaterThan(0);
  });
});
