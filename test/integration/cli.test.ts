import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/auth/api-keys.ts';
import { openDatabase } from '../../src/db/database.ts';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

/**
 * The real `casebridge` bin in a child process against a temporary embedded database. These commands
 * need no Redis, so REDIS_URL points nowhere on purpose.
 */
describe('casebridge CLI', () => {
  let dir: string;
  const env = () => ({
    PATH: process.env.PATH,
    DATABASE_URL: `pglite://${path.join(dir, 'db')}`,
    DATA_DIR: dir,
    REDIS_URL: 'redis://127.0.0.1:1',
  });
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['bin/casebridge.mjs', ...args], { cwd: root, env: env(), timeout: 90_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-cli-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Each spawn loads the CLI through tsx and opens an on-disk PGlite: seconds each, more on a busy machine. */
  const SLOW = 180_000;
  let orgId = '';
  let apiKey = '';

  it('org create --json prints the organization and a working API key, and nothing else', async () => {
    const res = await cli('org', 'create', '--name', 'Spawned Firm LLP', '--json');
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { organization: { id: string; name: string }; apiKey: string };
    expect(out.organization.name).toBe('Spawned Firm LLP');
    expect(out.organization.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.apiKey).toMatch(/^cbk_/);
    orgId = out.organization.id;
    apiKey = out.apiKey;
  }, SLOW);

  it('user create adds a user; a second one with the same e-mail is refused with status 2', async () => {
    const res = await cli('user', 'create', '--org', orgId, '--email', 'Paula@Spawned.example', '--role', 'admin', '--name', 'Paula P', '--json');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).user).toMatchObject({ email: 'paula@spawned.example', role: 'admin', name: 'Paula P' });
    const again = await cli('user', 'create', '--org', orgId, '--email', 'paula@spawned.example', '--role', 'member');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
  }, SLOW);

  it('apikey create and revoke; an unknown organization is a usage error', async () => {
    const created = JSON.parse((await cli('apikey', 'create', '--org', orgId, '--name', 'ci', '--json')).stdout) as { id: string; apiKey: string };
    expect(created.apiKey).toMatch(/^cbk_/);
    const revoked = await cli('apikey', 'revoke', '--org', orgId, '--id', created.id);
    expect(revoked.code).toBe(0);
    const unknownOrg = await cli('apikey', 'create', '--org', '00000000-0000-4000-8000-000000000000');
    expect(unknownOrg.code).toBe(2);
    expect(unknownOrg.stderr).toContain('no organization');

    // What the commands wrote, read back from the database they used.
    const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'db') });
    try {
      const keys = await database.db.selectFrom('api_keys').select(['key_hash', 'revoked_at', 'name']).where('organization_id', '=', orgId).execute();
      expect(keys.find((k) => k.key_hash === hashApiKey(apiKey))).toMatchObject({ name: 'default', revoked_at: null });
      expect(keys.find((k) => k.key_hash === hashApiKey(created.apiKey))?.revoked_at).toBeInstanceOf(Date);
      const users = await database.db.selectFrom('users').select('email').where('organization_id', '=', orgId).execute();
      expect(users).toEqual([{ email: 'paula@spawned.example' }]);
    } finally {
      await database.close();
    }
  }, SLOW);

  it('db migrate reports an up-to-date database; unknown commands print usage with status 2', async () => {
    const res = await cli('db', 'migrate', '--json');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ database: 'pglite', applied: [] });
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toContain('org create');
  }, SLOW);
});
