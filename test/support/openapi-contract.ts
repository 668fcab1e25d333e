import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';

/**
 * The API contract checks, shared by test/api/openapi-contract.test.ts and `npm run lint:openapi`:
 * Redocly's recommended rules over the generated document, and a TypeScript client generated from it
 * (openapi-typescript) that must type-check.
 */

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

export interface LintResult {
  errors: number;
  warnings: number;
  problems: Array<{ ruleId: string; severity: string; message: string; location?: Array<{ pointer?: string }> }>;
}

/** Lints a document file with the repository's redocly.yaml (recommended rules). */
export async function lintOpenApi(file: string): Promise<LintResult> {
  const bin = path.join(root, 'node_modules/.bin/redocly');
  // Exit code 1 when there are errors; the JSON report is on stdout either way.
  const out = await run(bin, ['lint', file, '--format=json', `--config=${path.join(root, 'redocly.yaml')}`], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const report = JSON.parse(out.stdout) as { totals: { errors: number; warnings: number }; problems: LintResult['problems'] };
  return { errors: report.totals.errors, warnings: report.totals.warnings, problems: report.problems };
}

/** Generates the client types of a document (openapi-typescript) as TypeScript source. */
export async function generateClientTypes(document: unknown): Promise<string> {
  const ast = await openapiTS(document as Parameters<typeof openapiTS>[0]);
  return astToString(ast);
}

/** Type-checks files with the repository's strict options; returns the diagnostics as text. */
export function typecheck(files: string[]): string[] {
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    noUncheckedIndexedAccess: true,
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1} ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

/** Writes a file, creating its directory. */
export function writeFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}
