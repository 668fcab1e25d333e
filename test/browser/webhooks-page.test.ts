import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/api/env.ts';
import { signingSecrets } from '../../src/webhooks/endpoints.ts';
import { emitWebhookEvent } from '../../src/webhooks/outbox.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { CHROMIUM, hasChromium, launchChromium, noSeriousViolations, SHOTS, shot, useSession } from './support.ts';

if (!hasChromium) console.warn(`browser webhooks page test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * An administrator in headless Chromium on `/admin/webhooks`, at phone width: creates an endpoint
 * for two event types (the secret shown once is the one that signs), opens its delivery log,
 * replays a delivery, rotates the secret and deletes the endpoint. Every page passes axe with no
 * serious or critical violation.
 */
describe.skipIf(!hasChromium)('the webhooks admin page in a real browser', () => {
  let t: TestServices;
  let server: ServerType;
  let base: string;
  let browser: Browser;
  let firm: SeededOrg;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    const appRef: { app?: App } = {};
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: (req, env) => appRef.app!.fetch(req, env), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await createTestServices({ SANDBOX_URL: 'http://127.0.0.1:9', PUBLIC_BASE_URL: base });
    appRef.app = t.app;
    firm = await seedOrg(t.services, 'Webhook Browser Firm');
    browser = await launchChromium();
    // Phone width.
    context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const headers = await signInAs(t.services, { id: firm.admin.id, organizationId: firm.organizationId, role: 'admin' });
    await useSession(context, base, headers);
    page = await context.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => {
      if (!server) return resolve();
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => resolve());
    });
    await t?.cleanup();
  });

  it('creates an endpoint from the nav entry and shows its secret once', async () => {
    await page.goto(`${base}/apps`);
    await page.click('a[href="/admin/webhooks"]');
    await page.waitForURL(`${base}/admin/webhooks`);
    expect(await page.textContent('#no-endpoints')).toContain('No endpoints yet');
    await noSeriousViolations(page);
    await page.fill('#webhook-url', 'https://93.184.215.14/hooks/casebridge');
    await page.fill('#webhook-description', 'case app');
    await page.check('#events-chosen');
    await page.check('#event-connection\\.revoked');
    await page.check('#event-sync\\.failed');
    await page.click('#create-endpoint');
    await page.waitForSelector('#webhook-secret');
    const secret = await page.inputValue('#webhook-secret');
    expect(secret).toMatch(/^whsec_/);
    const row = await t.services.db.selectFrom('webhook_endpoints').selectAll().executeTakeFirstOrThrow();
    expect(signingSecrets(t.services.config, row)).toEqual([secret]);
    expect(await page.textContent('#endpoints')).toContain('connection.revoked, sync.failed');
    await noSeriousViolations(page);
    // A reload does not show it again.
    await page.goto(`${base}/admin/webhooks`);
    expect(await page.$('#webhook-secret')).toBeNull();
    expect(await page.content()).not.toContain(secret);
  });

  it('opens the delivery log and replays a delivery', async () => {
    await emitWebhookEvent(t.services.db, {
      organizationId: firm.organizationId,
      type: 'connection.revoked',
      data: { connectionId: randomUUID(), userId: null, platform: 'google_calendar', status: 'revoked' },
    });
    await page.goto(`${base}/admin/webhooks`);
    await page.click('#endpoints a.button');
    await page.waitForSelector('#deliveries');
    expect(await page.locator('#deliveries tbody tr').count()).toBe(1);
    await noSeriousViolations(page);
    await page.click('#deliveries tbody tr button');
    await page.waitForURL(/\?replayed=1$/);
    expect(await page.textContent('main')).toContain('Replay queued');
    expect(await page.locator('#deliveries tbody tr').count()).toBe(2);
    expect(await page.textContent('#deliveries')).toContain('(replay)');
    await noSeriousViolations(page);
    if (SHOTS) {
      // The README's picture at desktop width (the walk itself runs at phone width).
      const viewport = page.viewportSize();
      await page.setViewportSize({ width: 1100, height: 800 });
      await shot(page, 'admin-webhooks');
      if (viewport) await page.setViewportSize(viewport);
    }
  });

  it('rotates the secret (shown once) and deletes the endpoint', async () => {
    await page.goto(`${base}/admin/webhooks`);
    const before = await t.services.db.selectFrom('webhook_endpoints').selectAll().executeTakeFirstOrThrow();
    await page.click('#endpoints button.secondary');
    await page.waitForSelector('#webhook-secret');
    const rotated = await page.inputValue('#webhook-secret');
    expect(rotated).not.toBe(signingSecrets(t.services.config, before)[0]);
    expect(await page.textContent('#secret-heading')).toBe('New signing secret');
    await noSeriousViolations(page);
    await page.goto(`${base}/admin/webhooks`);
    await page.click('#endpoints button.danger');
    await page.waitForURL(`${base}/admin/webhooks?deleted=1`);
    expect(await page.textContent('#no-endpoints')).toContain('No endpoints yet');
    await noSeriousViolations(page);
  });
});
