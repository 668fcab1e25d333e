import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClientTypes, lintOpenApi, typecheck, writeFile } from '../support/openapi-contract.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

type Operation = { operationId?: string; summary?: string; description?: string; security?: unknown[]; responses?: Record<string, unknown> };
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
