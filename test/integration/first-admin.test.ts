import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { DEFAULT_ACCOUNTS, type Sandbox, startSandbox } from '../../sandbox/server.ts';
import { createApp } from '../../src/api/app.ts';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { hashSignInToken } from '../../src/auth/sign-in-links.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createServices } from '../../src/services.ts';
import { browse, CookieJar, errorCode, googleSignIn, location, sessionHeaders } from '../auth/helpers.ts';
import type { TestServices } from '../support/services.ts';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
/** Each CLI spawn loads TypeScript through tsx and opens an on-disk PGlite: seconds each on a busy machine. */
const SLOW = 300_000;

/**
 * README "First steps for a new firm", end to end: the operator's CLI creates the firm with its
 * first admin and prints a sign-in link; then the service starts on the same embedded database and
 * the admin opens the link and signs in through the sandbox's Google.
 */
describe('first steps for a new firm', () => {
  let dir: string;
  let sandbox: Sandbox;
  let t: TestServices | null = null;
  const prefix = `cbfirst-${randomUUID().slice(0, 8)}`;
  const env = () => ({
    DATABASE_URL: `pglite://${path.join(dir, 'db')}`,
    DATA_DIR: dir,
    PUBLIC_BASE_URL: 'http://localhost:3000',
    SANDBOX_URL: sandbox.url,
  });
  const cli = async (...args: string[]) => {
    try {
      // The CLI needs no Redis: REDIS_URL points nowhere on purpose.
      const { stdout, stderr } = await run(process.execPath, ['bin/casebridge.mjs', ...args], {
        cwd: root,
        env: { PATH: process.env.PATH, ...env(), REDIS_URL: 'redis://127.0.0.1:1' },
        timeout: SLOW,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-first-'));
    sandbox = await startSandbox(emulators, {
      port: 0,
      accounts: [
        ...DEFAULT_ACCOUNTS,
        { email: 'founder@newfirm.example', name: 'Fiona Founder', sub: '300000000000000000001', hd: 'newfirm.example', emailVerified: true },
      ],
    });
  });
  afterAll(async () => {
    await t?.cleanup();
    await sandbox?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    'org create --admin-email prints a link; the admin signs in with Google through it once, and the link is then refused',
    async () => {
      // 1. The operator creates the firm, its first admin and the link (before the service runs).
      const created = await cli(
        'org',
        'create',
        '--name',
        'New Firm LLP',
        '--admin-email',
        'Founder@NewFirm.example',
        '--admin-name',
        'Fiona Founder',
        '--json',
      );
      expect(created.code, created.stderr).toBe(0);
      const out = JSON.parse(created.stdout) as {
        organization: { id: string };
        apiKey: string;
        admin: { id: string; email: string; role: string };
        signInLink: { url: string; email: string; expiresAt: string };
      };
      expect(out.admin).toMatchObject({ email: 'founder@newfirm.example', role: 'admin' });
      expect(out.signInLink.url).toMatch(/^http:\/\/localhost:3000\/auth\/link\/cbl_[A-Za-z0-9_-]{43}$/);
      const hoursLeft = (Date.parse(out.signInLink.expiresAt) - Date.now()) / 3_600_000;
      expect(hoursLeft).toBeGreaterThan(23.9);
      expect(hoursLeft).toBeLessThanOrEqual(24);
      const policy = await cli('org', 'sign-in-policy', 'set', '--org', out.organization.id, '--google-domain', 'newfirm.example', '--jit', 'false', '--json');
      expect(policy.code, policy.stderr).toBe(0);
      expect(JSON.parse(policy.stdout).policy).toMatchObject({ allowedGoogleDomains: ['newfirm.example'], jitProvisioning: false });

      // 2. The service starts on the same database.
      const config = loadConfig({
        ...env(),
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: prefix,
      });
      const services = await createServices(config);
      t = { services, config, app: createApp(services), cleanup: () => services.close() };
      const token = new URL(out.signInLink.url).pathname.split('/').pop()!;
      const stored = await services.db.selectFrom('sign_in_links').selectAll().execute();
      expect(stored).toEqual([
        expect.objectContaining({ user_id: out.admin.id, email: 'founder@newfirm.example', token_hash: hashSignInToken(token), used_at: null }),
      ]);
      expect(JSON.stringify(stored)).not.toContain(token);

      // Without the link the admin cannot get in: nothing links their Google account to their user.
      const without = await googleSignIn(t, new CookieJar(), { email: 'founder@newfirm.example' });
      expect(without.res.status).toBe(403);
      expect(await errorCode(without.res)).toBe('account_not_linked');

      // 3. The admin opens the link: a page naming them, with the sign-in button (opening it uses nothing).
      const jar = new CookieJar();
      const linkPath = new URL(out.signInLink.url).pathname;
      const page = await browse(t, jar, linkPath);
      expect(page.status).toBe(200);
      expect(page.headers.get('referrer-policy')).toBe('no-referrer');
      expect(page.headers.get('cache-control')).toBe('no-store');
      const html = await page.text();
      expect(html).toContain('founder@newfirm.example');
      expect(html).toContain('New Firm LLP');
      const button = /id="link-sign-in-google" href="([^"]+)"/.exec(html)![1]!;
      expect(button).toBe(`${linkPath}/google`);
      expect((await browse(t, new CookieJar(), linkPath)).status).toBe(200);

      // 4. … and signs in through the sandbox's Google.
      const authorize = location(await browse(t, jar, button));
      expect(authorize.origin).toBe(sandbox.url);
      expect(authorize.searchParams.get('login_hint')).toBe('founder@newfirm.example');
      const callback = location(await fetch(authorize, { redirect: 'manual' }));
      const signedIn = await browse(t, jar, callback.toString());
      expect(signedIn.status).toBe(303);
      expect(signedIn.headers.get('location')).toBe('/');
      expect(jar.get(SESSION_COOKIE)).toBeTruthy();

      // 5. The admin session works: who am I, and an admin-only route.
      const headers = await sessionHeaders(t, jar);
      const me = (await (await t.app.request('/v1/me', { headers })).json()) as {
        user: { id: string; email: string };
        role: string;
        organization: { id: string };
      };
      expect(me).toMatchObject({ user: { id: out.admin.id, email: 'founder@newfirm.example' }, role: 'admin', organization: { id: out.organization.id } });
      const users = await t.app.request('/v1/admin/users', { headers });
      expect(users.status).toBe(200);
      const newKey = await t.app.request('/v1/admin/api-keys', {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'from the admin' }),
      });
      expect(newKey.status).toBe(201);

      // 6. The link is used up: the page and the sign-in start both refuse it.
      const again = await browse(t, new CookieJar(), linkPath);
      expect(again.status).toBe(410);
      expect(await again.text()).toContain('sign_in_link_used');
      expect((await browse(t, new CookieJar(), `${linkPath}/google`)).status).toBe(410);
      const row = await services.db.selectFrom('sign_in_links').selectAll().executeTakeFirstOrThrow();
      const identity = await services.db.selectFrom('identities').selectAll().where('user_id', '=', out.admin.id).executeTakeFirstOrThrow();
      expect(row.used_at).toBeInstanceOf(Date);
      expect(row.used_by_identity_id).toBe(identity.id);

      // 7. From now on the admin signs in with Google directly.
      const later = await googleSignIn(t, new CookieJar(), { email: 'founder@newfirm.example' });
      expect(later.res.status).toBe(303);
      const events = await services.db
        .selectFrom('security_events')
        .select(['kind', 'outcome', 'method', 'details'])
        .where('user_id', '=', out.admin.id)
        .orderBy('created_at')
        .execute();
      expect(events.map((e) => `${e.kind}:${e.outcome}:${e.method}`)).toEqual([
        'sign_in_link_issued:success:command_line',
        'login:failure:google',
        'login:success:google',
        'login:success:google',
      ]);
      expect(events[2]!.details).toMatchObject({ via: 'sign_in_link' });
    },
    SLOW,
  );
});
