import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { hashApiKey } from '../../src/auth/api-keys.ts';
import { hashSignInToken } from '../../src/auth/sign-in-links.ts';
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

  let sandbox: Sandbox;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-cli-'));
    sandbox = await startSandbox(emulators, { port: 0 });
  });
  afterAll(async () => {
    await sandbox?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Each spawn loads the CLI through tsx and opens an on-disk PGlite: seconds each, more on a busy machine. */
  const SLOW = 300_000;
  let orgId = '';
  let apiKey = '';

  it(
    'org create --json prints the organization and a working API key, and nothing else',
    async () => {
      const res = await cli('org', 'create', '--name', 'Spawned Firm LLP', '--json');
      expect(res.code).toBe(0);
      const out = JSON.parse(res.stdout) as { organization: { id: string; name: string }; apiKey: string };
      expect(out.organization.name).toBe('Spawned Firm LLP');
      expect(out.organization.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(out.apiKey).toMatch(/^cbk_/);
      orgId = out.organization.id;
      apiKey = out.apiKey;
    },
    SLOW,
  );

  it(
    'user create adds a user; a second one with the same e-mail is refused with status 2',
    async () => {
      const res = await cli('user', 'create', '--org', orgId, '--email', 'Paula@Spawned.example', '--role', 'admin', '--name', 'Paula P', '--json');
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout).user).toMatchObject({ email: 'paula@spawned.example', role: 'admin', name: 'Paula P' });
      const again = await cli('user', 'create', '--org', orgId, '--email', 'paula@spawned.example', '--role', 'member');
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('already exists');
    },
    SLOW,
  );

  it(
    'apikey create and revoke; an unknown organization is a usage error',
    async () => {
      const created = JSON.parse((await cli('apikey', 'create', '--org', orgId, '--name', 'ci', '--json')).stdout) as { id: string; apiKey: string };
      expect(created.apiKey).toMatch(/^cbk_/);
      const revoked = await cli('apikey', 'revoke', '--org', orgId, '--id', created.id);
      expect(revoked.code).toBe(0);
      const unknownOrg = await cli('apikey', 'create', '--org', '00000000-0000-4000-8000-000000000000');
      expect(unknownOrg.code).toBe(2);
      expect(unknownOrg.stderr).toContain('no organization');
      const scoped = JSON.parse((await cli('apikey', 'create', '--org', orgId, '--scopes', 'connections:read,transfers:read', '--json')).stdout) as {
        scopes: string[];
      };
      expect(scoped.scopes).toEqual(['connections:read', 'transfers:read']);
      const unknownScope = await cli('apikey', 'create', '--org', orgId, '--scopes', 'everything');
      expect(unknownScope.code).toBe(2);
      expect(unknownScope.stderr).toContain('unknown scope everything');

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
    },
    SLOW,
  );

  it(
    'db migrate reports an up-to-date database; unknown commands print usage with status 2',
    async () => {
      const res = await cli('db', 'migrate', '--json');
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toEqual({ database: 'pglite', applied: [] });
      const unknown = await cli('frobnicate');
      expect(unknown.code).toBe(2);
      expect(unknown.stdout).toContain('org create');
    },
    SLOW,
  );

  it(
    'user invite-link prints a new single-use link for an existing user and kills the earlier one; usage errors exit 2',
    async () => {
      const first = await cli('user', 'invite-link', '--org', orgId, '--email', 'PAULA@spawned.example', '--link-hours', '2', '--json');
      expect(first.code, first.stderr).toBe(0);
      const link = (JSON.parse(first.stdout) as { signInLink: { url: string; email: string; expiresAt: string } }).signInLink;
      expect(link.email).toBe('paula@spawned.example');
      expect(Date.parse(link.expiresAt) - Date.now()).toBeLessThanOrEqual(2 * 3_600_000);
      const text = await cli('user', 'invite-link', '--org', orgId, '--email', 'paula@spawned.example');
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/sign-in link for paula@spawned\.example \(single use, expires .*\n {2}http:\/\/localhost:3000\/auth\/link\/cbl_/);
      const unknown = await cli('user', 'invite-link', '--org', orgId, '--email', 'nobody@spawned.example');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('no user with e-mail nobody@spawned.example');
      const badHours = await cli('user', 'invite-link', '--org', orgId, '--email', 'paula@spawned.example', '--link-hours', '0');
      expect(badHours.code).toBe(2);
      expect(badHours.stderr).toContain('--link-hours');

      const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'db') });
      try {
        const links = await database.db.selectFrom('sign_in_links').select(['token_hash', 'email']).execute();
        const token = new URL(link.url).pathname.split('/').pop()!;
        // Only the newest link (from the text run) is left, and nothing stores a token in the clear.
        expect(links).toHaveLength(1);
        expect(links[0]!.token_hash).not.toBe(hashSignInToken(token));
        expect(links[0]!.token_hash).toBe(hashSignInToken(text.stdout.match(/cbl_[A-Za-z0-9_-]{43}/)![0]));
      } finally {
        await database.close();
      }
    },
    SLOW,
  );

  it(
    'org sign-in-policy set changes the policy and refuses a domain another organization admits',
    async () => {
      const set = await cli(
        'org',
        'sign-in-policy',
        'set',
        '--org',
        orgId,
        '--google-domain',
        'Spawned.example',
        '--google-domain',
        'spawned-law.example',
        '--jit',
        'true',
        '--default-role',
        'member',
        '--link-by-email',
        'false',
      );
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toContain(
        'Google Workspace domains: spawned.example (pending verification: provisions nobody yet), spawned-law.example (pending verification: provisions nobody yet)',
      );
      const approved = await cli(
        'org',
        'sign-in-policy',
        'set',
        '--org',
        orgId,
        '--google-domain',
        'spawned.example',
        '--google-domain',
        'spawned-law.example',
        '--approve-domains',
      );
      expect(approved.code, approved.stderr).toBe(0);
      expect(approved.stdout).toContain('Google Workspace domains: spawned.example (verified), spawned-law.example (verified)');
      expect(set.stdout).toContain('just-in-time provisioning: on (new users get role member)');
      const otherOrg = (JSON.parse((await cli('org', 'create', '--name', 'Other Firm', '--json')).stdout) as { organization: { id: string } }).organization.id;
      const clash = await cli('org', 'sign-in-policy', 'set', '--org', otherOrg, '--google-domain', 'spawned-law.example');
      expect(clash.code).toBe(2);
      expect(clash.stderr).toContain('the Google Workspace domain spawned-law.example belongs to another organization');
      const bad = await cli('org', 'sign-in-policy', 'set', '--org', otherOrg, '--jit', 'maybe');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--jit must be true or false');
    },
    SLOW,
  );

  it(
    'org saml set reads the IdP from its metadata URL or file, and refuses metadata it cannot use',
    async () => {
      const fromUrl = await cli('org', 'saml', 'set', '--org', orgId, '--metadata-url', `${sandbox.url}/onelogin/saml/metadata/casebridge`, '--json');
      expect(fromUrl.code, fromUrl.stderr).toBe(0);
      expect(JSON.parse(fromUrl.stdout).identityProvider).toEqual({
        entityId: `${sandbox.url}/onelogin/saml/metadata/casebridge`,
        ssoUrl: `${sandbox.url}/onelogin/trust/saml2/http-post/sso/casebridge`,
        sloUrl: `${sandbox.url}/onelogin/trust/saml2/http-redirect/slo/casebridge`,
        certificates: 1,
        allowIdpInitiated: false,
      });
      const xml = await (await fetch(`${sandbox.url}/onelogin/saml/metadata/from-file`)).text();
      const file = path.join(dir, 'idp-metadata.xml');
      fs.writeFileSync(file, xml);
      const fromFile = await cli('org', 'saml', 'set', '--org', orgId, '--metadata-file', file);
      expect(fromFile.code, fromFile.stderr).toBe(0);
      expect(fromFile.stdout).toContain(`SAML identity provider ${sandbox.url}/onelogin/saml/metadata/from-file saved`);
      expect(fromFile.stdout).toContain(`ACS http://localhost:3000/auth/saml/${orgId}/acs`);

      fs.writeFileSync(file, xml.replace(/<KeyDescriptor[\s\S]*<\/KeyDescriptor>/, ''));
      const noCert = await cli('org', 'saml', 'set', '--org', orgId, '--metadata-file', file);
      expect(noCert.code).toBe(2);
      expect(noCert.stderr).toContain('the IdP publishes no signing certificate (metadata_invalid)');
      const scheme = await cli('org', 'saml', 'set', '--org', orgId, '--metadata-url', 'file:///etc/passwd');
      expect(scheme.code).toBe(2);
      expect(scheme.stderr).toContain('must be https://');
      expect(scheme.stderr).toContain('metadata_url_refused');
      const both = await cli('org', 'saml', 'set', '--org', orgId, '--metadata-url', 'https://a.example', '--metadata-file', file);
      expect(both.code).toBe(2);

      const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'db') });
      try {
        const saved = await database.db
          .selectFrom('saml_configs')
          .select(['entity_id', 'sso_url'])
          .where('organization_id', '=', orgId)
          .executeTakeFirstOrThrow();
        expect(saved.entity_id).toBe(`${sandbox.url}/onelogin/saml/metadata/from-file`); // the refused runs changed nothing
        const events = await database.db.selectFrom('security_events').select(['kind', 'method']).where('organization_id', '=', orgId).execute();
        expect(
          events
            .filter((e) => e.method === 'command_line')
            .map((e) => e.kind)
            .sort(),
        ).toEqual([
          'saml_config_updated',
          'saml_config_updated',
          'sign_in_link_issued',
          'sign_in_link_issued',
          'sign_in_policy_updated',
          'sign_in_policy_updated',
        ]);
      } finally {
        await database.close();
      }
    },
    SLOW,
  );
});
