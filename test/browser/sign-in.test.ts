import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import type { App } from '../../src/api/env.ts';
import { verifiedGoogleDomain } from '../auth/helpers.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { CHROMIUM, hasChromium, launchChromium } from './support.ts';

if (!hasChromium) console.warn(`browser sign-in test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * A person signing in: the app on a real port, the sandbox beside it, headless Chromium clicking
 * through the Google account picker and the OneLogin sign-in page, then reading `/`.
 */
describe.skipIf(!hasChromium)('sign-in in a real browser', () => {
  let sandbox: Sandbox;
  let t: TestServices;
  let server: ServerType;
  let base: string;
  let browser: Browser;
  let firm: SeededOrg;

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
    // Listen first (on a free port), then build the app knowing its public URL.
    const appRef: { app?: App } = {};
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: (req, env) => appRef.app!.fetch(req, env), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await createTestServices({ SANDBOX_URL: sandbox.url, PUBLIC_BASE_URL: base });
    appRef.app = t.app;

    firm = await seedOrg(t.services, 'Hartmann Law');
    await t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({ allowedGoogleDomains: ['hartmann-law.example'], jitProvisioning: true }) })
      .where('id', '=', firm.organizationId)
      .execute();
    await verifiedGoogleDomain(t.services, firm.organizationId, 'hartmann-law.example');
    const idp = oneLoginIdp(sandbox.state);
    const admin = await signInAs(t.services, { id: firm.admin.id, organizationId: firm.organizationId, role: 'admin' });
    const configured = await t.app.request('/v1/admin/saml', {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ entityId: idp.entityId('hartmann'), ssoUrl: idp.ssoUrl('hartmann'), certificates: [idp.certificatePem] }),
    });
    expect(configured.status).toBe(200);

    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => {
      if (!server) return resolve();
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => resolve());
    });
    await t?.cleanup();
    await sandbox?.close();
  });

  it('signs in with Google by picking an account, and shows the user on /', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.click('text=Sign in with Google');
    await page.waitForURL(/\/google\/o\/oauth2\/v2\/auth/);
    expect(await page.textContent('h1')).toBe('Choose an account');
    await page.click('text=Alice Hartmann');
    await page.waitForURL(`${base}/`);
    expect(await page.textContent('#user-name')).toBe('Alice Hartmann');
    expect(await page.textContent('#user-email')).toBe('alice@hartmann-law.example');
    expect(await page.textContent('#organization-name')).toBe('Hartmann Law');

    await page.click('#sign-out');
    await page.waitForURL(/\/login\?loggedOut=1/);
    expect(await page.textContent('.note')).toContain('signed out');
    await context.close();
  });

  it('signs in with OneLogin through the IdP sign-in page and its auto-submitted response', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/login?org=${firm.organizationId}`);
    await page.click('text=Sign in with OneLogin');
    await page.waitForURL(/\/onelogin\/trust\/saml2\/http-post\/sso\/hartmann/);
    expect(await page.textContent('h1')).toBe('Sign in to OneLogin');
    await page.click('button[data-email="bob@hartmann-law.example"]');
    await page.waitForURL(`${base}/`);
    expect(await page.textContent('#user-name')).toBe('Bob Keller');
    expect(await page.textContent('#user-email')).toBe('bob@hartmann-law.example');
    expect(await page.textContent('#organization-name')).toBe('Hartmann Law');
    await context.close();
  });
});
