import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The outbound gate is the one door: code under `connectors/` and `queues/` may reach a provider
 * only through the gated client factories in `src/transfers/clients/` (which only work inside a gate
 * `perform`). This test fails the build when such a file imports an HTTP client or a provider SDK
 * itself, or calls the global `fetch`.
 */

const FORBIDDEN_EXACT = new Set([
  'node:http',
  'node:https',
  'node:http2',
  'node:net',
  'node:tls',
  'http',
  'https',
  'http2',
  'net',
  'tls',
  'undici',
  'axios',
  'got',
  'node-fetch',
  'cross-fetch',
  'ky',
  'superagent',
  'request',
  'gaxios',
  'googleapis',
  'google-auth-library',
  '@microsoft/microsoft-graph-client',
  'openid-client',
]);
const FORBIDDEN_PREFIXES = ['@googleapis/', '@azure/', '@microsoft/microsoft-graph-client/', 'googleapis/'];

interface Violation {
  file: string;
  line: number;
  what: string;
}

/** Removes comments (keeping line numbers) so prose about `fetch(` does not count. */
function stripComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, (_m, lead: string) => lead);
}

function isForbidden(specifier: string): boolean {
  return FORBIDDEN_EXACT.has(specifier) || FORBIDDEN_PREFIXES.some((p) => specifier.startsWith(p));
}

/** Finds raw HTTP clients, provider SDKs and global fetch calls in one file's source. */
function findGateViolations(file: string, source: string): Violation[] {
  const code = stripComments(source);
  const out: Violation[] = [];
  const lineOf = (index: number) => code.slice(0, index).split('\n').length;
  const importPatterns = [
    /\bimport\s+(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?[^'"`;]*?\s+from\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of importPatterns) {
    for (const m of code.matchAll(re)) {
      if (isForbidden(m[1]!)) out.push({ file, line: lineOf(m.index), what: `imports ${m[1]}` });
    }
  }
  // The global fetch (bare or via globalThis/window/self), not a method named fetch on some object.
  for (const m of code.matchAll(/(?:\b(?:globalThis|window|self)\s*\.\s*|(?<![\w$.]))fetch\s*\(/g)) {
    out.push({ file, line: lineOf(m.index), what: 'calls global fetch(' });
  }
  return out.sort((a, b) => a.line - b.line);
}

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === 'node_modules' ? [] : tsFiles(p);
    return /\.(ts|mts|cts|tsx)$/.test(d.name) ? [p] : [];
  });
}

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('architecture: the outbound gate is the only door to providers', () => {
  it('no file under connectors/ or queues/ imports an HTTP client or provider SDK or calls fetch', () => {
    const files = [...tsFiles(path.join(ROOT, 'connectors')), ...tsFiles(path.join(ROOT, 'queues'))];
    expect(files.length).toBeGreaterThan(0);
    const violations = files.flatMap((f) => findGateViolations(path.relative(ROOT, f), fs.readFileSync(f, 'utf8')));
    expect(violations.map((v) => `${v.file}:${v.line} ${v.what}`)).toEqual([]);
  });

  it('catches a connector that imports a raw provider client', () => {
    const fixture = [
      "import { calendar } from '@googleapis/calendar';",
      "import type { Foo } from './types.ts';",
      'export async function apply() {',
      "  return calendar({ version: 'v3' }).events.insert({});",
      '}',
    ].join('\n');
    expect(findGateViolations('connectors/evil/apply.ts', fixture)).toEqual([
      { file: 'connectors/evil/apply.ts', line: 1, what: 'imports @googleapis/calendar' },
    ]);
  });

  it('catches every other way out, and ignores comments and gated clients', () => {
    const fixture = [
      "import https from 'node:https';",
      "import * as undici from 'undici';",
      "export { default as axios } from 'axios';",
      "const graph = await import('@microsoft/microsoft-graph-client');",
      "const got = require('got');",
      "const res = await fetch('https://example.test');",
      "const res2 = await globalThis.fetch('https://example.test');",
      "import { openGoogleCalendar } from '../../src/transfers/clients/google-calendar.ts';",
      '// fetch(comment) and import x from "axios" in a comment do not count',
      'await queue.fetch(job); await prefetch(x);',
    ].join('\n');
    expect(findGateViolations('queues/evil.ts', fixture).map((v) => [v.line, v.what])).toEqual([
      [1, 'imports node:https'],
      [2, 'imports undici'],
      [3, 'imports axios'],
      [4, 'imports @microsoft/microsoft-graph-client'],
      [5, 'imports got'],
      [6, 'calls global fetch('],
      [7, 'calls global fetch('],
    ]);
  });
});
