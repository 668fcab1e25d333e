import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const compiled = fs.existsSync(path.join(root, 'dist/src/cli/main.js'));
/** Spawns of the real bin; through tsx (no build) they take seconds each on a busy machine. */
const SLOW = 300_000;

/**
 * The command line as a shell user meets it: help per command, version, usage errors and their exit
 * codes, `--json` errors, shell completion, and which modules a command loads. The real
 * `casebridge` bin runs in a child process (the compiled one when dist/ is built, as after `npm ci`).
 */
describe('casebridge command line', () => {
  let dir: string;
  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH,
    DATABASE_URL: `pglite://${path.join(dir, 'db')}`,
    DATA_DIR: dir,
    REDIS_URL: 'redis://127.0.0.1:1',
    ...extra,
  });
  const cli = async (args: string[], options: { node?: string[]; env?: Record<string, string> } = {}) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [...(options.node ?? []), 'bin/casebridge.mjs', ...args], {
        cwd: root,
        env: env(options.env),
        timeout: SLOW,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-cli-shell-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(
    '--help lists every command group, the exit codes and examples, and exits 0',
    async () => {
      const res = await cli(['--help']);
      expect(res.code).toBe(0);
      for (const word of ['org', 'user', 'apikey', 'revoke', 'receipts', 'transfers', 'keys', 'db', 'seed', 'completion']) {
        expect(res.stdout).toMatch(new RegExp(`^  ${word}\\b`, 'm'));
      }
      expect(res.stdout).toContain('Exit codes:');
      expect(res.stdout).toContain('2  usage error');
      expect(res.stderr).toBe('');
    },
    SLOW,
  );

  it(
    'org --help prints the org commands, and org create --help its options, both exiting 0',
    async () => {
      const org = await cli(['org', '--help']);
      expect(org.code, org.stderr).toBe(0);
      expect(org.stdout).toContain('Usage: casebridge org');
      expect(org.stdout).toMatch(/^ {2}create \[options\] +Create an organization/m);
      expect(org.stdout).toMatch(/^ {2}list \[options\] +List organizations/m);
      expect(org.stdout).toMatch(/^ {2}saml +An organization's SAML identity provider/m);

      const create = await cli(['org', 'create', '--help']);
      expect(create.code, create.stderr).toBe(0);
      expect(create.stdout).toContain('Usage: casebridge org create --name NAME');
      expect(create.stdout).toMatch(/--admin-email <E> +also create its first administrator/);
      expect(create.stdout).toMatch(/--json +print the result as JSON/);

      // `help WORDS` is the same as `WORDS --help`, nested groups included.
      const saml = await cli(['help', 'org', 'saml', 'set']);
      expect(saml.code, saml.stderr).toBe(0);
      expect(saml.stdout).toContain('Usage: casebridge org saml set --org ID (--metadata-url URL | --metadata-file FILE)');
    },
    SLOW,
  );

  it(
    '--version prints the package version and exits 0',
    async () => {
      const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
      for (const flag of ['--version', '-V']) {
        const res = await cli([flag]);
        expect(res.code).toBe(0);
        expect(res.stdout.trim()).toBe(version);
      }
    },
    SLOW,
  );

  it(
    'usage errors exit 2 and say what is wrong: unknown option (with a suggestion), group without a command, missing argument',
    async () => {
      const typo = await cli(['org', 'create', '--nme', 'X']);
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain("unknown option '--nme'");
      expect(typo.stderr).toContain('--name');
      const bare = await cli(['org']);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('Usage: casebridge org');
      const noFile = await cli(['receipts', 'verify']);
      expect(noFile.code).toBe(2);
      expect(noFile.stderr).toContain("missing required argument 'FILE'");
      const unknownShell = await cli(['completion', 'fish']);
      expect(unknownShell.code).toBe(2);
      expect(unknownShell.stderr).toContain("unknown shell 'fish'");
    },
    SLOW,
  );

  it(
    '--json turns errors into {"error":{code,message}} on stderr, with the same exit codes',
    async () => {
      const missing = await cli(['org', 'create', '--json']);
      expect(missing.code).toBe(2);
      expect(JSON.parse(missing.stderr)).toEqual({ error: { code: 'usage', message: '--name NAME is required' } });
      expect(missing.stdout).toBe('');
      const unknownOption = await cli(['org', 'list', '--json', '--bogus']);
      expect(unknownOption.code).toBe(2);
      expect(JSON.parse(unknownOption.stderr).error).toMatchObject({ code: 'usage', message: expect.stringContaining("unknown option '--bogus'") });
      const badConfig = await cli(['org', 'list', '--json'], { env: { NODE_ENV: 'production' } });
      expect(badConfig.code).toBe(3);
      expect(JSON.parse(badConfig.stderr).error).toMatchObject({ code: 'invalid_config', message: expect.stringContaining('TOKEN_ENCRYPTION_KEYS') });
    },
    SLOW,
  );

  it(
    'a command that needs Redis exits 4 when Redis does not answer',
    async () => {
      const res = await cli(['transfers', 'verify', '--json']);
      expect(res.code).toBe(4);
      expect(JSON.parse(res.stderr).error.code).toBe('redis_unavailable');
    },
    SLOW,
  );

  it(
    'bash completion offers the subcommands and options of the words typed so far',
    async () => {
      const script = await cli(['completion', 'bash']);
      expect(script.code, script.stderr).toBe(0);
      const file = path.join(dir, 'casebridge.bash');
      fs.writeFileSync(file, script.stdout);
      const complete = async (...words: string[]) => {
        const line = words.map((w) => `'${w}'`).join(' ');
        const { stdout } = await run('bash', [
          '-c',
          `source '${file}'; COMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _casebridge; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ]);
        return stdout.split('\n').filter(Boolean).sort();
      };
      expect(await complete('casebridge', 'or')).toEqual(['org']);
      expect(await complete('casebridge', 'org', '')).toEqual(['create', 'list', 'saml', 'sign-in-policy']);
      expect(await complete('casebridge', 'org', 'create', '--adm')).toEqual(['--admin-email', '--admin-name']);
      expect(await complete('casebridge', 'org', 'sign-in-policy', 'set', '--org', 'abc', '--goo')).toEqual(['--google-domain']);
      expect(await complete('casebridge', 'completion', '')).toEqual(['bash', 'zsh']);
      // After a command that takes no subcommand, a word that is not an option is left to file-name completion.
      expect(await complete('casebridge', 'receipts', 'verify', '')).toEqual([]);
    },
    SLOW,
  );

  it(
    'zsh completion describes each candidate',
    async () => {
      const script = await cli(['completion', 'zsh']);
      expect(script.code, script.stderr).toBe(0);
      expect(script.stdout.startsWith('#compdef casebridge\n')).toBe(true);
      expect(script.stdout).toContain("'create:Create an organization");
      expect(script.stdout).toContain("'--metadata-url:the IdP");
      expect(script.stdout).toContain('compdef _casebridge casebridge');
    },
    SLOW,
  );

  const pgUrl = process.env.TEST_DATABASE_URL;
  it.skipIf(!pgUrl)(
    "on PostgreSQL, migrates the schema DATABASE_URL's search_path names, even beside another migrated schema",
    async () => {
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      const suffix = Math.random().toString(36).slice(2, 10);
      const [a, b] = [`cli_a_${suffix}`, `cli_b_${suffix}`];
      const url = (schema: string) => `${pgUrl}${pgUrl!.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      try {
        await admin.query(`CREATE SCHEMA ${a}; CREATE SCHEMA ${b}`);
        const first = await cli(['db', 'migrate', '--json'], { env: { DATABASE_URL: url(a) } });
        expect(first.code, first.stderr).toBe(0);
        // Schema a now has the migrator's tables; b has none, and must get its own.
        const second = await cli(['org', 'create', '--name', 'Schema B LLP', '--json'], { env: { DATABASE_URL: url(b) } });
        expect(second.code, second.stderr).toBe(0);
        expect((await admin.query(`SELECT name FROM ${b}.organizations`)).rows).toEqual([{ name: 'Schema B LLP' }]);
        expect((await admin.query(`SELECT name FROM ${a}.organizations`)).rows).toEqual([]);
      } finally {
        await admin.query(`DROP SCHEMA IF EXISTS ${a} CASCADE; DROP SCHEMA IF EXISTS ${b} CASCADE`);
        await admin.end();
      }
    },
    SLOW,
  );

  describe('loads only what the command needs', () => {
    /** Every module URL the process resolved, through a resolve hook registered before the bin runs. */
    const importsOf = async (args: string[]) => {
      const log = path.join(dir, `imports-${args.join('-')}.log`);
      const hooks = path.join(dir, 'hooks.mjs');
      const register = path.join(dir, 'register.mjs');
      fs.writeFileSync(
        hooks,
        `import fs from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  const r = await next(specifier, context);\n  fs.appendFileSync(process.env.IMPORT_LOG, r.url + '\\n');\n  return r;\n}\n`,
      );
      fs.writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
      const res = await cli(args, { node: ['--import', register], env: { IMPORT_LOG: log } });
      expect(res.code, res.stderr).toBe(0);
      return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    };
    const anyOf = (urls: string[], part: string) => urls.some((u) => u.includes(part));

    it(
      '--help imports the parser and the command list, no command, configuration, database or Redis',
      async () => {
        const urls = await importsOf(['--help']);
        expect(anyOf(urls, '/node_modules/commander/')).toBe(true);
        for (const part of [
          '-commands.',
          '/src/config/',
          '/src/db/',
          '/node_modules/zod/',
          '/node_modules/kysely/',
          '/node_modules/@electric-sql/',
          '/node_modules/ioredis/',
        ]) {
          expect(anyOf(urls, part), part).toBe(false);
        }
        if (compiled) expect(anyOf(urls, '/node_modules/tsx/'), 'the compiled CLI runs without tsx').toBe(false);
      },
      SLOW,
    );

    it(
      "a group's or command's help imports the command definitions, no database, configuration or store code",
      async () => {
        const { commandGroups } = await import('../../src/cli/commands.ts');
        const lines = [...commandGroups.map((g) => g.words), ['org', 'create'], ['user', 'create'], ['revoke']];
        for (const words of lines) {
          const urls = await importsOf([...words, '--help']);
          expect(anyOf(urls, '/node_modules/commander/'), words.join(' ')).toBe(true);
          expect(anyOf(urls, '-commands.'), words.join(' ')).toBe(true);
          for (const part of [
            '/src/config/',
            '/src/db/',
            '/src/auth/api-keys.',
            '/src/revocation/',
            '/src/transfers/',
            '/node_modules/zod/',
            '/node_modules/kysely/',
            '/node_modules/pg/',
            '/node_modules/@electric-sql/',
            '/node_modules/ioredis/',
            '/node_modules/@node-saml/',
          ]) {
            expect(anyOf(urls, part), `${words.join(' ')} --help: ${part}`).toBe(false);
          }
        }
      },
      SLOW,
    );

    it(
      'org list imports the org commands and the database, not the SAML commands, queues, workers, Redis or the API',
      async () => {
        const urls = await importsOf(['org', 'list']);
        expect(anyOf(urls, '/src/cli/org-commands.')).toBe(true);
        expect(anyOf(urls, '/node_modules/@electric-sql/pglite/')).toBe(true);
        for (const part of [
          '/src/cli/sign-in-commands.',
          '/src/cli/revocation-commands.',
          '/queues/',
          '/node_modules/bullmq/',
          '/node_modules/ioredis/',
          '/node_modules/hono/',
          '/node_modules/@node-saml/',
        ]) {
          expect(anyOf(urls, part), part).toBe(false);
        }
        // The one config schema merges each connector's config fragment (connectors/*/config.ts): those
        // and nothing else of a connector (no client, SDK or projection) load for a database command.
        const connectorModules = urls.filter((u) => u.includes('/connectors/'));
        expect(connectorModules.filter((u) => !/\/connectors\/([^/]+\/config|config-fragments?)\.[jt]s$/.test(u))).toEqual([]);
        if (compiled) expect(anyOf(urls, '/node_modules/tsx/'), 'the compiled CLI runs without tsx').toBe(false);
      },
      SLOW,
    );
  });
});
