import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { CHROMIUM, hasChromium, launchChromium } from './support.ts';

if (!hasChromium) console.warn(`docs browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * `/docs` in a real browser with every other origin cut off (as offline): the API's operations
 * render, nothing is requested from another origin, and the page's CSP is not violated.
 */
describe.skipIf(!hasChromium)('/docs in a real browser', () => {
  let t: TestServices;
  let server: ServerType;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    t = await createTestServices();
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await t?.cleanup();
  });

  it('renders the operations from this origin alone, within its CSP', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const foreign: string[] = [];
    const problems: string[] = [];
    // Every request leaving the origin is recorded and refused: the page must not need any.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${base}/`) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      foreign.push(url);
      return route.abort('internetdisconnected');
    });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));

    const res = await page.goto(`${base}/docs`);
    expect(res?.status()).toBe(200);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.map((p) => p.replace(/\u200b/g, ''))).toContain('/v1/connections');
    expect(await page.locator('.info .title').first().textContent()).toContain('Casebridge API');

    expect(foreign).toEqual([]);
    expect(problems.filter((p) => /Content Security Policy|Refused to/i.test(p))).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it('"Try it out" works for a signed-in user: the CSRF header is filled in from the session', async () => {
    const org = await seedOrg(t.services, 'Docs Firm');
    const signedIn = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const [name, value] = signedIn.cookie!.split('=') as [string, string];
    const csrf = signedIn['x-csrf-token']!;
    const context = await browser.newContext();
    await context.addCookies([{ name, value, url: base, httpOnly: true, sameSite: 'Lax' }]);
    const page = await context.newPage();
    await page.goto(`${base}/docs`);
    const block = page.locator('.opblock-post', { has: page.locator('.opblock-summary-path', { hasText: /checkpoints$/ }) }).first();
    await block.waitFor({ timeout: 30_000 });
    await block.locator('.opblock-summary').first().click();
    await block.getByRole('button', { name: 'Try it out' }).click();
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/v1/admin/transfers/checkpoints') && r.request().method() === 'POST', { timeout: 30_000 }),
      block.getByRole('button', { name: 'Execute' }).click(),
    ]);
    expect(response.request().headers()['x-csrf-token']).toBe(csrf);
    expect(response.status()).toBe(200);
    await context.close();
  }, 90_000);

  it('sends a strict CSP and refuses to be framed', async () => {
    const res = await fetch(`${base}/docs`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/https?:|unsafe-eval|script-src[^;]*unsafe-inline/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(await res.text()).not.toMatch(/<script>|https?:\/\//);
    expect((await fetch(`${base}/docs/assets/swagger-ui-bundle.js`)).status).toBe(200);
    expect((await fetch(`${base}/docs/assets/package.json`)).status).toBe(404);
    expect((await fetch(`${base}/docs/assets/..%2Fpackage.json`)).status).toBe(404);
  });
});
