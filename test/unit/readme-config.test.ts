import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema, SECRET_VARIABLES } from '../../src/config/schema.ts';

describe('README configuration table', () => {
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## API overview'));
  const documented = new Set([...section.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!));
  const known = Object.keys(configSchema.shape);
  const fileVariants = SECRET_VARIABLES.map((name) => `${name}_FILE`);

  it('lists every variable of the config schema, and no variable the schema does not know', () => {
    expect(known.filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => !known.includes(k) && !fileVariants.includes(k))).toEqual([]);
  });

  it('names the _FILE variant of every secret variable', () => {
    expect(fileVariants.filter((k) => !documented.has(k))).toEqual([]);
  });
});
