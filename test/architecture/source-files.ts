import fs from 'node:fs';
import path from 'node:path';

/** The repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every TypeScript file under `dir` (relative to the root), node_modules excluded. */
export function tsFiles(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((d) => {
    const rel = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === 'node_modules' ? [] : tsFiles(rel);
    return /\.(ts|mts|cts|tsx)$/.test(d.name) ? [rel] : [];
  });
}

/** Removes comments (keeping line numbers) so prose does not count as code. */
export function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, (_m, lead: string) => lead);
}

/** The module specifiers a file imports or re-exports (static, dynamic and require), with their lines. */
export function importsOf(source: string): { specifier: string; line: number; typeOnly: boolean }[] {
  const code = stripComments(source);
  const lineOf = (index: number) => code.slice(0, index).split('\n').length;
  const patterns = [
    /\bimport\s+(type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bexport\s+(type\s+)?[^'"`;]*?\s+from\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*()['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*()['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns
    .flatMap((re) => [...code.matchAll(re)].map((m) => ({ specifier: m[2]!, line: lineOf(m.index), typeOnly: Boolean(m[1]) })))
    .sort((a, b) => a.line - b.line);
}

/** Resolves a relative specifier of `file` to a root-relative path (null for packages). */
export function resolveRelative(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  return path.normalize(path.join(path.dirname(file), specifier));
}
