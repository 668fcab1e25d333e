import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tsFiles } from './source-files.ts';

/**
 * Thin routes (issue 12): a route file validates, calls one domain function and responds, so it
 * stays at most 200 lines; schemas live in src/api/schemas/, answers' shapes in view modules, rules
 * in the domain.
 */
const MAX_LINES = 200;

const lines = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n').length - 1;

describe('architecture: thin route files', () => {
  it(`keeps every route file at ${MAX_LINES} lines or less`, () => {
    const routeFiles = tsFiles('src/api/routes');
    expect(routeFiles.length).toBeGreaterThan(0);
    const over = routeFiles
      .map((f) => ({ file: f.split(path.sep).join('/'), lines: lines(f) }))
      .filter(({ lines: n }) => n > MAX_LINES)
      .map(({ file, lines: n }) => `${file}: ${n} lines (limit ${MAX_LINES})`);
    expect(over).toEqual([]);
  });
});
