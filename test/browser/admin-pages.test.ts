import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import type { App } from '../../src/api/env.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { CHROMIUM, hasChromium, launchChromium, noSeriousViolations, shot, useSession } from './support.ts';

if (!hasChromium) console.warn(`browser admin pages test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * An organization administrator in headless Chromium against the real app and the sandbox's OneLogin:
 * configures SAML from the IdP's metadata file, runs the test sign-in through the IdP, creates an API
 * key (shown once), switches a platform off, searches the transfer log, runs an access report, reads
 * the security events and ends a user's sessions; a member gets the 403 page and their own access
 * report. Every page passes axe with no serious or critical violation.
 */
describe.skipIf(!hasChromium)('the admin pages in a real browser', () => {
  let sandbox: Sandbox;
  let t: TestServices;
  let server: ServerType;
  let base: string;
  let browser: Browser;
  let firm: SeededOrg;
  let adminContext: BrowserContext;
  let admin: Page;
  let metadataFile: string;

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
    const appRef: { app?: App } = {};
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: (req, env) => appRef.app!.fetch(req, env), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await createTestServices({ SANDBOX_URL: sandbox.url, PUBLIC_BASE_URL: base });
    appRef.app = t.app;
    firm = await seedOrg(t.services, 'Hartmann Law');
    // The administrator has an account at the IdP (for the test sign-in).
    const account = await fetch(`${sandbox.url}/_sandbox/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: firm.admin.email, name: 'Ada Admin', sub: '500000000000000000009' }),
    });
    expect(account.ok).toBe(true);
    // The IdP's metadata, saved as the file an administrator downloads from OneLogin.
    const xml = await (await fetch(oneLoginIdp(sandbox.state).metadataUrl('hartmann'))).text();
    metadataFile = join(mkdtempSync(join(tmpdir(), 'cb-idp-')), 'onelogin-metadata.xml');
    writeFileSync(metadataFile, xml);

    browser = await launchChromium();
    adminContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const headers = await signInAs(t.services, { id: firm.admin.id, organizationId: firm.organizationId, role: 'admin' });
    await useSession(adminContext, base, headers);
    admin = await adminContext.newPage();
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

  /**
   * Waits for the page a form post lands on. A post that lands elsewhere (an error page) fails with
   * where the page is and what it says: the clean-clone suite once timed out waiting for
   * `?saved=saml` (2026-12-06), with nothing to tell why.
   */
  const arriveAt = async (page: Page, url: string) => {
    try {
      await page.waitForURL(url);
    } catch (err) {
      const text = (await page.textContent('body').catch(() => null))?.replace(/\s+/g, ' ').trim().slice(0, 600);
      throw new Error(`${(err as Error).message.split('\n')[0]} — the page is ${page.url()} and says: ${text ?? '(nothing readable)'}`);
    }
  };

  it('configures SAML from the IdP metadata file, then the test sign-in goes through the IdP and back', async () => {
    await admin.goto(`${base}/admin/sign-in`);
    expect(await admin.textContent('#idp-none')).toContain('No identity provider yet');
    expect(await admin.getAttribute('#sp-metadata', 'href')).toBe(`${base}/auth/saml/${firm.organizationId}/metadata`);
    await noSeriousViolations(admin);
    // The administrator's existing account is linked to their first SAML sign-in by its e-mail address.
    await admin.check('#link-by-email');
    await admin.click('#save-policy');
    await arriveAt(admin, `${base}/admin/sign-in?saved=policy`);
    expect(await admin.isChecked('#link-by-email')).toBe(true);
    await admin.setInputFiles('#metadata-file', metadataFile);
    await admin.click('#save-saml');
    await arriveAt(admin, `${base}/admin/sign-in?saved=saml`);
    expect(await admin.textContent('#idp-config')).toContain(oneLoginIdp(sandbox.state).entityId('hartmann'));
    await noSeriousViolations(admin);
    await shot(admin, 'admin-sign-in');

    await admin.click('#saml-test');
    await admin.waitForURL(/\/onelogin\/trust\/saml2\/http-post\/sso\/hartmann/);
    await admin.click(`button[data-email="${firm.admin.email}"]`);
    await arriveAt(admin, `${base}/admin/sign-in?tested=1`);
    expect(await admin.textContent('#saml-test-ok')).toContain('SAML sign-in works');
    await noSeriousViolations(admin);
  }, 60_000);

  it('creates an API key shown once, then lists it without the secret', async () => {
    await admin.goto(`${base}/admin/api-keys`);
    await noSeriousViolations(admin);
    await admin.fill('#key-name', 'Case management app');
    await admin.click('#create-key');
    const key = await admin.inputValue('#new-api-key');
    expect(key.length).toBeGreaterThan(20);
    await noSeriousViolations(admin);
    await shot(admin, 'admin-api-keys');
    await admin.goto(`${base}/admin/api-keys`);
    expect(await admin.locator('#new-api-key').count()).toBe(0);
    expect(await admin.content()).not.toContain(key);
    expect(await admin.textContent('#api-keys')).toContain('Case management app');
  });

  it('switches a platform off for the organization', async () => {
    await admin.goto(`${base}/admin/platforms`);
    await noSeriousViolations(admin);
    await admin.click('#switch-ical');
    await admin.waitForURL(/\/admin\/platforms\?switched=ical/);
    expect(await admin.getAttribute('[data-platform="ical"] [data-platform-state]', 'data-platform-state')).toBe('off');
    await noSeriousViolations(admin);
    await shot(admin, 'admin-platforms');
  });

  it('searches the transfer log, runs an access report and reads the security events', async () => {
    await admin.goto(`${base}/admin/transfers`);
    await admin.selectOption('#t-outcome', 'sent');
    await admin.click('#search-transfers');
    await admin.waitForURL(/outcome=sent/);
    expect(await admin.getAttribute('#export-csv', 'href')).toContain('outcome=sent');
    await noSeriousViolations(admin);
    await shot(admin, 'admin-transfers');

    await admin.goto(`${base}/admin/access`);
    await admin.fill('#access-email', 'someone@client.example');
    await admin.click('#run-access-report');
    await admin.waitForSelector('#access-report');
    expect(await admin.textContent('#access-no-recipients')).toContain('Nothing about them was sent');
    await noSeriousViolations(admin);
    await shot(admin, 'admin-access-report');

    await admin.goto(`${base}/admin/security-events`);
    const events = await admin.textContent('#security-events');
    expect(events).toContain('saml config updated');
    expect(events).toContain('login');
    await noSeriousViolations(admin);
    await shot(admin, 'admin-security-events');
  });

  it("ends a user's sessions from the users page", async () => {
    const headers = await signInAs(t.services, { id: firm.member.id, organizationId: firm.organizationId, role: 'member' });
    await admin.goto(`${base}/admin/users`);
    await noSeriousViolations(admin);
    await admin.click(`button[data-end-sessions="${firm.member.email}"]`);
    await admin.waitForURL(/\/admin\/users\?ended=1/);
    expect((await t.app.request('/apps', { headers: { cookie: headers.cookie! } })).status).toBe(302);
  });

  it('gives a member the 403 page for the console and their own access report', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const headers = await signInAs(t.services, { id: firm.member.id, organizationId: firm.organizationId, role: 'member' });
    await useSession(context, base, headers);
    const page = await context.newPage();
    const res = await page.goto(`${base}/admin/api-keys`);
    expect(res!.status()).toBe(403);
    expect(await page.getAttribute('[data-error-code]', 'data-error-code')).toBe('admin_required');
    await noSeriousViolations(page);
    await page.goto(`${base}/shared/access`);
    expect(await page.textContent('h1')).toBe('Your access report');
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await noSeriousViolations(page);
    await shot(page, 'own-access-report-phone');
    await context.close();
  });

  it('renders the sign-in page as a component page that passes axe', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const res = await page.goto(`${base}/login?org=${firm.organizationId}&error=oidc_state_missing`);
    expect(res!.headers()['content-security-policy']).not.toContain('unsafe-inline');
    expect(await page.textContent('h1')).toBe('Sign in to Hartmann Law');
    expect(await page.textContent('[role="alert"]')).toContain('Please try again');
    expect(await page.isVisible('#sign-in-onelogin')).toBe(true);
    await noSeriousViolations(page);
    await shot(page, 'sign-in');
    await context.close();
  });
});
