import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/api/env.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from '../sync/support/env.ts';
import { CHROMIUM, hasChromium, launchChromium, noSeriousViolations, shot, useSession } from './support.ts';

if (!hasChromium) console.warn(`browser pages test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * A user's journey through the pages in headless Chromium, against the real app, workers, Redis,
 * database and the Google emulator: connected apps → consent screen with a choice → the preview →
 * Google's account chooser → the first sync's progress → shared data → disconnect → the signed
 * receipt. The preview must equal what then reaches the sandbox, and every page passes axe with no
 * serious or critical violation.
 */
describe.skipIf(!hasChromium)('the in-app pages in a real browser', () => {
  let env: SyncEnv;
  let server: ServerType;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let connectionId: string;
  let previewed: Array<{ key: string; fields: Record<string, unknown> }> = [];
  let previewTotal = 0;

  beforeAll(async () => {
    const appRef: { app?: App } = {};
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: (req, e) => appRef.app!.fetch(req, e), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    env = await createSyncEnv({ env: { PUBLIC_BASE_URL: base } });
    appRef.app = env.t.app;
    await env.startWorkers();
    await env.ingest([
      ...caseWithEvents({ caseId: 'c1', assignee: env.org.member.email, n: 6 }),
      ...caseWithEvents({ caseId: 'c2', assignee: env.org.member.email, n: 4, titlePrefix: 'Deposition' }),
    ]);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    // Signed in as the member through the test helper's session (sign-in itself has its own browser test).
    await useSession(context, base, env.member);
    page = await context.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => {
      if (!server) return resolve();
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => resolve());
    });
    await env?.close();
  });

  it('shows the connected apps with a strict CSP and no third-party origin', async () => {
    const res = await page.goto(`${base}/apps`);
    const csp = res!.headers()['content-security-policy']!;
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]{24}'/);
    expect(csp).toContain("default-src 'none'");
    expect(await page.textContent('h1')).toBe('Connected apps');
    expect(await page.textContent('main')).toContain('Not connected.');
    await noSeriousViolations(page);
    await shot(page, 'connected-apps-empty');
  });

  it('previews exactly the chosen cases and fields, updating as the choice changes', async () => {
    await page.click('text=Connect Google Calendar');
    await page.waitForURL(`${base}/apps/connect/google_calendar`);
    expect(await page.isChecked('#cat-calendar\\.events')).toBe(true);
    expect(await page.isChecked('#cat-calendar\\.events\\.details')).toBe(false);
    expect(await page.getAttribute('#preview-summary', 'data-total')).toBe('10');
    await noSeriousViolations(page);
    await shot(page, 'consent-screen');

    // Choose one case: the script refreshes the preview without a reload.
    await page.check('#scope-cases');
    await page.check('label:has-text("PI-c1") >> xpath=preceding-sibling::input');
    await expect.poll(() => page.getAttribute('#preview-summary', 'data-total'), { timeout: 15_000 }).toBe('6');
    const items = await page.$$eval('[data-preview-key]', (els) =>
      els.map((e) => ({ key: e.getAttribute('data-preview-key')!, fields: JSON.parse(e.getAttribute('data-preview-fields')!) })),
    );
    expect(items).toHaveLength(5);
    for (const item of items) {
      expect(Object.keys(item.fields).sort()).toEqual(expect.arrayContaining(['allDay', 'caseNumber', 'end', 'start', 'title']));
      expect(item.fields).not.toHaveProperty('description');
      expect(item.fields).not.toHaveProperty('participantNames');
      expect(item.fields.caseNumber).toBe('PI-c1');
    }
    previewed = items;
    previewTotal = 6;
    await noSeriousViolations(page);
  });

  it('sends the user to Google, then shows the first sync until it is up to date', async () => {
    await page.click('#agree-and-connect');
    await page.waitForURL(/\/google\/o\/oauth2\/v2\/auth/);
    await page.click('text=Alice Hartmann');
    await page.waitForURL(/\/apps\/[0-9a-f-]{36}\?connected=1$/);
    connectionId = /\/apps\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    expect(await page.textContent('.notice')).toContain('Connected');
    await noSeriousViolations(page);
    // live.js keeps the status fresh; no reload.
    await expect.poll(() => page.textContent('#status-label'), { timeout: 30_000 }).toBe('Up to date');
    await shot(page, 'connection-progress');

    const consent = await env.t.services.db
      .selectFrom('consents')
      .select(['method', 'categories', 'case_scope'])
      .where('connection_id', '=', connectionId)
      .executeTakeFirstOrThrow();
    expect(consent.method).toBe('consent_screen');
    expect(consent.categories).toEqual(['calendar.events']);
  });

  it('what reached the Google emulator is exactly what the preview showed', async () => {
    const calendarId = await env.calendarId(connectionId);
    const live = env.liveEvents(calendarId);
    expect(live).toHaveLength(previewTotal);
    for (const item of previewed) {
      const eventId = item.key.replace(/^event:/, '');
      const sent = live.find((e) => (e.extendedProperties as { private: Record<string, string> }).private.casebridgeEventId === eventId)!;
      expect(sent, item.key).toBeDefined();
      const f = item.fields;
      expect(sent.summary).toBe(`${f.caseNumber}: ${f.title}`);
      expect(sent.location ?? undefined).toBe(f.location);
      expect(sent.description ?? undefined).toBeUndefined();
      const start = sent.start as { date?: string; dateTime?: string };
      expect(f.allDay ? start.date : start.dateTime).toBe(f.start);
    }
    expect(live.every((e) => String(e.summary).startsWith('PI-c1: '))).toBe(true);
  });

  it('shows the shared data in plain language, filters it and downloads it as CSV', async () => {
    await page.goto(`${base}/shared`);
    const summary = await page.textContent('#shared-summary');
    expect(summary).toMatch(/6 new case calendar entries sent to Google Calendar alice@hartmann-law\.example on .*, under consent v1/);
    expect(await page.locator('#shared-rows tbody tr').count()).toBeGreaterThanOrEqual(6);
    await noSeriousViolations(page);
    await shot(page, 'shared-data');

    await page.goto(`${base}/shared?platform=ical`);
    expect(await page.textContent('#shared-empty')).toContain('Nothing was shared that matches this filter');
    const csv = await page.request.get(`${base}/shared.csv?platform=google_calendar`);
    expect(csv.status()).toBe(200);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toMatch(/^id,seq,created_at/);
    expect(lines.filter((l) => l.includes(',sent,create,'))).toHaveLength(6);
  });

  it('changes the scope as a new consent version, previewed first, and the platform follows', async () => {
    await page.goto(`${base}/apps/${connectionId}`);
    await page.click('text=Change what is shared');
    await page.waitForURL(`${base}/apps/${connectionId}/change`);
    expect(await page.isChecked('#scope-cases')).toBe(true);
    await noSeriousViolations(page);
    await page.check('#scope-all');
    await page.check('#cat-calendar\\.events\\.details');
    await expect.poll(() => page.getAttribute('#preview-summary', 'data-total'), { timeout: 15_000 }).toBe('10');
    // Two refreshes (scope, then category): the total is 10 after the first, the fields after the second.
    await expect.poll(() => page.textContent('#preview-summary'), { timeout: 15_000 }).toContain('Description');
    await shot(page, 'change-consent');
    await page.click('text=Save the new choice');
    await page.waitForURL(`${base}/apps/${connectionId}?changed=1`);
    const calendarId = await env.calendarId(connectionId);
    await expect.poll(() => env.liveEvents(calendarId).length, { timeout: 30_000 }).toBe(10);
    await expect
      .poll(() => env.liveEvents(calendarId).every((e) => typeof e.description === 'string' && e.description.includes('Confidential')), { timeout: 30_000 })
      .toBe(true);
    const versions = await env.t.services.db
      .selectFrom('consents')
      .select(['version', 'method'])
      .where('connection_id', '=', connectionId)
      .orderBy('version')
      .execute();
    expect(versions).toEqual([
      { version: 1, method: 'consent_screen' },
      { version: 2, method: 'consent_screen' },
    ]);
  });

  it('disconnects after a confirmation and shows the verified, signed receipt', async () => {
    await page.goto(`${base}/apps/${connectionId}/disconnect`);
    expect(await page.textContent('main')).toContain('stay in your account');
    await noSeriousViolations(page);
    await shot(page, 'disconnect');
    await page.click('#confirm-disconnect');
    await page.waitForURL(/\/receipts\/[0-9a-f-]{36}$/);
    await expect.poll(() => page.locator('#receipt-verified').count(), { timeout: 30_000 }).toBe(1);
    await noSeriousViolations(page);
    await shot(page, 'receipt');
    const row = await env.t.services.db.selectFrom('connections').select('status').where('id', '=', connectionId).executeTakeFirstOrThrow();
    expect(row.status).toBe('revoked');
  });

  it('is usable at phone width', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${base}/shared`);
    // Evaluated in the page (a string: this project's TypeScript has no DOM library).
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await noSeriousViolations(phone);
    await shot(phone, 'shared-data-phone');
    await phone.close();
  });

  it('creates an iCal feed and shows its URL once with a copy button', async () => {
    await page.goto(`${base}/feeds`);
    await noSeriousViolations(page);
    await page.click('#create-feed');
    await page.waitForSelector('#feed-url');
    expect(await page.inputValue('#feed-url')).toMatch(/\/ical\/[A-Za-z0-9_-]+\.ics$/);
    expect(await page.isVisible('[data-copy="feed-url"]')).toBe(true);
    await noSeriousViolations(page);
    await shot(page, 'ical-feeds');
  });

  it('lets an administrator revoke a user and verify the receipt on the page', async () => {
    const adminContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const { signInAs } = await import('../support/fixtures.ts');
    const headers = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    await useSession(adminContext, base, headers);
    const admin = await adminContext.newPage();
    await admin.goto(`${base}/admin`);
    await noSeriousViolations(admin);
    await shot(admin, 'admin-console');
    await admin.goto(`${base}/admin/connections`);
    expect(await admin.locator('#admin-connections tbody tr').count()).toBeGreaterThanOrEqual(2);
    await noSeriousViolations(admin);
    await shot(admin, 'admin-connections');
    await admin.goto(`${base}/admin/revoke`);
    await admin.selectOption('#user-id', env.org.member.id);
    await admin.click('#show-covered');
    await admin.waitForSelector('#confirm-form');
    expect(await admin.textContent('#confirm-form h2')).toBe('This revokes 1 connection');
    await noSeriousViolations(admin);
    await shot(admin, 'admin-revoke');
    await admin.fill('#reason', 'left the firm');
    await admin.check('#confirm');
    await admin.click('#revoke');
    await admin.waitForURL(/\/receipts\/[0-9a-f-]{36}$/);
    await expect.poll(() => admin.locator('#receipt-verified').count(), { timeout: 30_000 }).toBe(1);
    await noSeriousViolations(admin);
    await adminContext.close();
  });
});
