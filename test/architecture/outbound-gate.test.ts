import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf, ROOT, tsFiles } from './source-files.ts';

/**
 * The outbound gate is the one door: a provider SDK or HTTP client is built only in a connector's
 * `connectors/<platform>/client.ts`, in the generic gated HTTP client
 * (`src/transfers/clients/http.ts`) and in the gated SMTP client (`src/transfers/clients/mail.ts`); all only work inside a gate `perform` (a runtime check,
 * `src/transfers/gate-scope.ts`). This test fails the build when any other file under `src/`,
 * `connectors/` or `queues/` imports an HTTP client or a provider SDK, or calls the global `fetch`.
 *
 * Exempt, and why: `src/auth/` (sign-in talks to identity providers; no case data leaves) and
 * `src/demo/` (a scripted walkthrough that calls our own API and the sandbox as a user would), and
 * `src/webhooks/sender.ts` (signed events to the platform's own backend, ids and statuses only).
 * Type-only imports build nothing and do not count (`import type { Server } from 'node:http'`).
 */

/** Where building a provider client is allowed. */
function mayBuildProviderClients(file: string): boolean {
  const f = file.split(path.sep).join('/');
  return (
    /^connectors\/[^/]+\/client\.ts$/.test(f) ||
    f === 'src/transfers/clients/http.ts' ||
    // The gated SMTP client (invitation e-mails).
    f === 'src/transfers/clients/mail.ts' ||
    f.startsWith('src/auth/') ||
    f.startsWith('src/demo/') ||
    // node:net's pure address utilities (BlockList, isIP) for TRUST_PROXY and the SSRF address list:
    // no socket is opened there.
    f === 'src/config/trust-proxy.ts' ||
    f === 'src/security/private-addresses.ts' ||
    // Webhooks go to the platform itself (the data's controller), carry ids and statuses only, and
    // are signed and logged in their own delivery log: not a transfer to an Additional Platform.
    f === 'src/webhooks/sender.ts'
  );
}

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
  'nodemailer',
]);
const FORBIDDEN_PREFIXES = ['@googleapis/', '@azure/', '@microsoft/microsoft-graph-client/', 'googleapis/'];

interface Violation {
  file: string;
  line: number;
  what: string;
}

/** Removes comments (keeping line numbers) so prose about `fetch(` does not count. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, (_m, lead: string) => lead);
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
    /\bimport\s+(?!type\s)(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g,
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
    // A method named fetch declared at the start of a line (`fetch(req): …` / `async fetch(req) {`) is not a call.
    const lineStart = code.lastIndexOf('\n', m.index) + 1;
    if (/^\s*(?:async\s+)?$/.test(code.slice(lineStart, m.index))) continue;
    out.push({ file, line: lineOf(m.index), what: 'calls global fetch(' });
  }
  return out.sort((a, b) => a.line - b.line);
}

describe('architecture: the outbound gate is the only door to providers', () => {
  it('outside connectors/*/client.ts and the gated HTTP client, nothing imports an HTTP client or provider SDK or calls fetch', () => {
    const files = ['src', 'connectors', 'queues'].flatMap((d) => tsFiles(d)).filter((f) => !mayBuildProviderClients(f));
    expect(files.length).toBeGreaterThan(100);
    const violations = files.flatMap((f) => findGateViolations(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(violations.map((v) => `${v.file}:${v.line} ${v.what}`)).toEqual([]);
  });

  it("the provider SDK is built in its connector's client.ts, which the rule admits", () => {
    expect(mayBuildProviderClients('connectors/google-calendar/client.ts')).toBe(true);
    expect(mayBuildProviderClients('connectors/google-calendar/apply.ts')).toBe(false);
    expect(mayBuildProviderClients('src/transfers/clients/google-calendar.ts')).toBe(false);
    expect(mayBuildProviderClients('queues/sync-worker.ts')).toBe(false);
    const sdk = importsOf(fs.readFileSync(path.join(ROOT, 'connectors/google-calendar/client.ts'), 'utf8')).map((i) => i.specifier);
    expect(sdk).toEqual(expect.arrayContaining(['@googleapis/calendar', 'google-auth-library']));
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

  it('catches every other way out, and ignores comments, type-only imports and gated clients', () => {
    const fixture = [
      "import https from 'node:https';",
      "import * as undici from 'undici';",
      "export { default as axios } from 'axios';",
      "const graph = await import('@microsoft/microsoft-graph-client');",
      "const got = require('got');",
      "const res = await fetch('https://example.test');",
      "const res2 = await globalThis.fetch('https://example.test');",
      "import { openGoogleCalendar } from '../google-calendar/client.ts';",
      '// fetch(comment) and import x from "axios" in a comment do not count',
      'await queue.fetch(job); await prefetch(x);',
      "import type { Server } from 'node:http';",
      '  async fetch(request) {',
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
