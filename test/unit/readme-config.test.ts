import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';

describe('README configuration table', () => {
  it('lists every variable of the config schema, and no variable the schema does not know', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## API overview'));
    const documented = new Set([...section.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!));
    const known = Object.keys(configSchema.shape);
    expect(known.filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => !known.includes(k))).toEqual([]);
  });
});
