import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_EXAMPLES } from '../../src/api/schemas/examples.ts';
import { generateClientTypes, lintOpenApi, typecheck, writeFile } from '../support/openapi-contract.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

type Media = { schema?: unknown; example?: unknown };
type Operation = {
  operationId?: string;
  summary?: string;
  description?: string;
  security?: unknown[];
  requestBody?: { content?: Record<string, Media> };
  responses?: Record<string, { content?: Record<string, Media> }>;
};
type Doc = { paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };

/** A client of the platform's backend, written against the generated types only. */
const CLIENT = `import type { components, paths } from './api.ts';

type Json<P extends keyof paths, M extends keyof paths[P], S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer B } } };
}
  ? B
  : never;

type ConnectionList = Json<'/v1/connections', 'get', 200>;
type TransferList = Json<'/v1/transfers', 'get', 200>;

export function firstConnectionStatus(list: ConnectionList): string | undefined {
  const next: string | null = list.nextCursor;
  void next;
  return list.items[0]?.status;
}

export function transferRecipients(list: TransferList): string[] {
  return list.items.map((t) => \`\${t.platform}:\${t.outcome}:\${t.createdAt}\`);
}

export function errorCode(body: components['schemas']['Error']): string {
  return body.error.code;
}
`;

describe('the OpenAPI contract', () => {
  let t: TestServices;
  let doc: Doc;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-openapi-'));

  beforeAll(async () => {
    t = await createTestServices();
    const res = await t.app.request('/openapi.json');
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
    writeFile(path.join(dir, 'openapi.json'), JSON.stringify(doc));
  });
  afterAll(async () => {
    await t?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives every operation an operationId (unique), a summary and a description', () => {
    const seen = new Set<string>();
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${p}`;
        expect(op.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
        expect(seen.has(op.operationId!), `${where}: duplicate ${op.operationId}`).toBe(false);
        seen.add(op.operationId!);
        expect(op.summary, where).toBeTruthy();
        expect(op.description, where).toBeTruthy();
      }
    }
    expect(seen.size).toBeGreaterThan(60);
  });

  it('gives every operation an example of its JSON request body and of each media type of its main (2xx) answer', () => {
    const missing: string[] = [];
    const operationIds = new Set<string>();
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${p}`;
        operationIds.add(op.operationId!);
        const body = op.requestBody?.content?.['application/json'];
        if (body && body.example === undefined) missing.push(`${where}: request body`);
        const [status, answer] = Object.entries(op.responses ?? {}).find(([code]) => code.startsWith('2')) ?? [];
        expect(status, `${where}: a 2xx answer`).toBeDefined();
        for (const [type, media] of Object.entries(answer?.content ?? {})) if (media.example === undefined) missing.push(`${where}: ${status} ${type}`);
      }
    }
    expect(missing).toEqual([]);
    // No example for an operation that does not exist (a renamed operationId would leave one behind).
    expect(Object.keys(OPERATION_EXAMPLES).filter((id) => !operationIds.has(id))).toEqual([]);
  });

  it('publishes patterns as plain regular expressions (no /flags suffix a client would read as text)', () => {
    const patterns = [...JSON.stringify(doc).matchAll(/"pattern":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    expect(patterns.length).toBeGreaterThan(3);
    expect(patterns.filter((p) => /\$\/[a-z]+$/.test(p))).toEqual([]);
    // The document file name and phone patterns accept what the API accepts.
    expect(patterns.some((p) => new RegExp(p).test('engagement-letter.pdf') && !new RegExp(p).test('a/b.pdf'))).toBe(true);
    expect(patterns.some((p) => new RegExp(p).test('+1 312 555 0100 EXT 12'))).toBe(true);
  });

  it('requires the CSRF header, as a security scheme, on state-changing session calls', () => {
    expect(doc.components.securitySchemes.csrf).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-CSRF-Token' });
    expect(doc.paths['/v1/connections']!.post!.security).toEqual([{ session: [], csrf: [] }]);
    expect(doc.paths['/v1/connections']!.get!.security).toEqual([{ session: [] }]);
  });

  it('passes Redocly lint (recommended rules) with no error and no warning', async () => {
    const result = await lintOpenApi(path.join(dir, 'openapi.json'));
    const problems = result.problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer ?? '?'}`);
    expect(problems).toEqual([]);
    expect({ errors: result.errors, warnings: result.warnings }).toEqual({ errors: 0, warnings: 0 });
  });

  it('validates examples against their schemas (an example that breaks its schema fails the lint)', async () => {
    const broken = structuredClone(doc);
    const media = broken.paths['/v1/connections']!.get!.responses!['200']!.content!['application/json']!;
    const example = structuredClone(media.example) as { items: Array<Record<string, unknown>> };
    example.items[0]!.status = 'exploded';
    media.example = example;
    const me = broken.paths['/v1/me']!.get!.responses!['200']!.content!['application/json']!;
    me.example = { ...(me.example as object), undocumented: true };
    const file = path.join(dir, 'broken.json');
    writeFile(file, JSON.stringify(broken));
    const result = await lintOpenApi(file);
    const messages = result.problems.filter((p) => p.ruleId === 'no-invalid-media-type-examples').map((p) => p.message);
    expect(messages.join('\n')).toMatch(/allowed values/);
    expect(messages.join('\n')).toMatch(/unevaluated properties `undocumented`/);
  });

  it('generates a TypeScript client that type-checks', async () => {
    writeFile(path.join(dir, 'api.ts'), await generateClientTypes(doc));
    writeFile(path.join(dir, 'client.ts'), CLIENT);
    expect(typecheck([path.join(dir, 'client.ts')])).toEqual([]);
  });

  it('refuses a client that misreads the contract (the check can fail)', async () => {
    writeFile(path.join(dir, 'api.ts'), await generateClientTypes(doc));
    writeFile(
      path.join(dir, 'wrong.ts'),
      `import type { paths } from './api.ts';\ntype L = paths['/v1/transfers']['get']['responses'][200]['content']['application/json'];\nexport const n = (l: L): number => l.items[0]!.createdAt;\n`,
    );
    expect(typecheck([path.join(dir, 'wrong.ts')]).join('\n')).toMatch(/not assignable to type 'number'/);
  });
});
