import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imanageDocuments, imanageStore } from '../../sandbox/imanage/work.ts';
import type { App } from '../../src/api/env.ts';
import { signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';
import { CHROMIUM, hasChromium, launchChromium, noSeriousViolations, shot, useSession } from './support.ts';

if (!hasChromium) console.warn(`browser iManage pages test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * An administrator in headless Chromium connects iManage Work against the sandbox's emulator through
 * the pages: connected apps → the iManage page → the server form (a refused address shown on the
 * form) → the consent screen with a practice-area scope and the preview → the emulator's sign-in →
 * back on the status page → the library chosen → the first document filed → what is shared changed
 * (scope Tax: preview, consent version 2, the left case's document marked) → disconnect → signed
 * receipt. A member sees the status only and gets the 403 page for the connect flow. Every page
 * passes axe with no serious or critical violation; the status page also at phone width.
 */
describe.skipIf(!hasChromium)('the iManage pages in a real browser', () => {
  let env: SyncEnv;
  let server: ServerType;
  let base: string;
  let browser: Browser;
  let adminContext: BrowserContext;
  let memberContext: BrowserContext;
  let admin: Page;
  let member: Page;

  beforeAll(async () => {
    const appRef: { app?: App } = {};
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: (req, e) => appRef.app!.fetch(req, e), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true', PUBLIC_BASE_URL: base } });
    appRef.app = env.t.app;
    await env.startWorkers();
    await env.ingest([
      { op: 'upsert', type: 'case', externalId: 'lit', data: { number: '1001-0001', title: 'Acme v. Beta', practiceArea: 'Litigation' } },
      { op: 'upsert', type: 'case', externalId: 'tax', data: { number: '1002-0001', title: 'Gamma audit', practiceArea: 'Tax' } },
    ]);
    for (const [id, caseId, title] of [
      ['d1', 'lit', 'Complaint'],
      ['d2', 'tax', 'Tax return'],
    ] as const) {
      const res = await env.t.app.request(`/v1/ingest/documents/${id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${env.org.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ caseExternalId: caseId, title, fileName: `${id}.pdf`, content: Buffer.from(title).toString('base64') }),
      });
      expect(res.status).toBeLessThan(300);
    }
    imanageStore(env.sandbox.state).containers.set('ACTIVE!900', {
      id: 'ACTIVE!900',
      library: 'ACTIVE',
      kind: 'workspace',
      name: 'Acme v. Beta',
      parentId: null,
      custom1: '1001',
      custom2: '0001',
      template: false,
    });
    imanageStore(env.sandbox.state).containers.set('ACTIVE!901', {
      id: 'ACTIVE!901',
      library: 'ACTIVE',
      kind: 'workspace',
      name: 'Gamma audit',
      parentId: null,
      custom1: '1002',
      custom2: '0001',
      template: false,
    });
    browser = await launchChromium();
    adminContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const adminHeaders = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    await useSession(adminContext, base, adminHeaders);
    admin = await adminContext.newPage();
    memberContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
    await useSession(memberContext, base, env.member);
    member = await memberContext.newPage();
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

  it('gives a member the status and the 403 page for the connect flow', async () => {
    await member.goto(`${base}/imanage`);
    expect(await member.textContent('main')).toContain('Your administrator has not connected iManage Work');
    await noSeriousViolations(member);
    const res = await member.goto(`${base}/imanage/connect`);
    expect(res!.status()).toBe(403);
    expect(await member.getAttribute('[data-error-code]', 'data-error-code')).toBe('admin_required');
    await noSeriousViolations(member);
  });

  it('leads from connected apps to the server form, which shows a refused address on the form', async () => {
    await admin.goto(`${base}/apps`);
    await admin.click('a[href="/imanage"]');
    await admin.waitForURL(`${base}/imanage`);
    await admin.click('#connect-imanage');
    await admin.waitForURL(`${base}/imanage/connect`);
    await noSeriousViolations(admin);
    await admin.fill('#imanage-host', 'https://dms.example.com/?next=1');
    await admin.click('#host-continue');
    await admin.waitForSelector('[data-error-code="invalid_host"]');
    expect(await admin.inputValue('#imanage-host')).toBe('https://dms.example.com/?next=1');
    await noSeriousViolations(admin);
  });

  it('previews the practice-area choice on the consent screen, then signs in at the emulator and lands on the status page', async () => {
    await admin.fill('#imanage-host', `${env.sandbox.url}/imanage`);
    await admin.fill('#imanage-library', '');
    await admin.check('#delete-mark');
    await admin.click('#host-continue');
    await admin.waitForURL(/\/imanage\/consent\?/);
    expect(Number(await admin.getAttribute('#preview-summary', 'data-total'))).toBe(2);
    await noSeriousViolations(admin);
    await admin.check('#scope-areas');
    const litigation = admin.locator('#practice-areas input[value="Litigation"]');
    await litigation.check();
    await until(async () => (await admin.getAttribute('#preview-summary', 'data-total')) === '1', 'the preview to update');
    // Files only (the default): the case number and file name leave, not the title.
    expect(await admin.textContent('#preview')).toContain('1001-0001');
    expect(await admin.textContent('#preview')).not.toContain('1002-0001');
    expect(await admin.textContent('#preview')).not.toContain('Complaint');
    await admin.click('#agree-and-connect');
    await admin.waitForURL(`${base}/imanage?connected=1`);
    expect(await admin.textContent('main')).toContain('Connected. The first sync is under way');
    expect(await admin.textContent('#imanage-scope')).toBe('Practice areas: Litigation');
    expect(await admin.textContent('#imanage-delete-policy')).toContain('marked');
    const consent = await env.t.services.db.selectFrom('consents').select(['method', 'case_scope']).executeTakeFirstOrThrow();
    expect(consent).toEqual({ method: 'consent_screen', case_scope: { kind: 'practice_areas', practiceAreas: ['Litigation'] } });
    await noSeriousViolations(admin);
  });

  it('files the document once the library is chosen, and shows the member the result at phone width', { timeout: 90_000 }, async () => {
    await env.waitIdle();
    await admin.goto(`${base}/imanage`);
    expect(await admin.textContent('#imanage-library')).toBe('not chosen yet');
    await admin.selectOption('#library-choice', 'ACTIVE');
    await admin.click('#save-imanage-settings');
    await admin.waitForURL(`${base}/imanage?saved=1`);
    await until(() => imanageDocuments(env.sandbox.state).length === 1, 'the document in iManage');
    await env.waitIdle();
    // Only the Litigation case's document, named from its file: the title (document metadata) was not consented.
    expect(imanageDocuments(env.sandbox.state).map((d) => d.profile.name)).toEqual(['d1']);
    await admin.goto(`${base}/imanage`);
    expect(await admin.textContent('#imanage-library')).toBe('ACTIVE');
    expect(await admin.textContent('#imanage-counts')).toMatch(/^\s*1 filed/);
    await noSeriousViolations(admin);
    await shot(admin, 'imanage-status');
    await member.goto(`${base}/imanage`);
    expect(await member.textContent('#imanage-library')).toBe('ACTIVE');
    expect(await member.$('#imanage-settings')).toBeNull();
    expect(await member.$('#disconnect-imanage')).toBeNull();
    await noSeriousViolations(member);
  });

  it('changes what is shared: the preview follows the new scope, consent version 2, the left case marked', { timeout: 90_000 }, async () => {
    await admin.goto(`${base}/imanage`);
    await admin.click('#change-imanage-consent');
    await admin.waitForURL(/\/imanage\/[0-9a-f-]{36}\/change$/);
    expect(await admin.textContent('main')).toContain('Currently consent version 1');
    expect(Number(await admin.getAttribute('#preview-summary', 'data-total'))).toBe(1);
    await noSeriousViolations(admin);
    await admin.locator('#practice-areas input[value="Litigation"]').uncheck();
    await admin.locator('#practice-areas input[value="Tax"]').check();
    await until(async () => ((await admin.textContent('#preview')) ?? '').includes('1002-0001'), 'the preview to update');
    expect(await admin.textContent('#preview')).not.toContain('1001-0001');
    await admin.click('#agree-and-connect');
    await admin.waitForURL(`${base}/imanage?changed=2`);
    expect(await admin.textContent('#imanage-scope')).toBe('Practice areas: Tax');
    await noSeriousViolations(admin);
    const consents = await env.t.services.db.selectFrom('consents').select(['version', 'method']).orderBy('version').execute();
    expect(consents.map((c) => [c.version, c.method])).toEqual([
      [1, 'consent_screen'],
      [2, 'consent_screen'],
    ]);
    // The Tax case's document is filed; the Litigation one stays, marked (delete policy `mark`).
    await until(() => imanageDocuments(env.sandbox.state).length === 2, 'the Tax document in iManage');
    await env.waitIdle();
    const docs = imanageDocuments(env.sandbox.state);
    expect(docs.map((d) => d.profile.name).sort()).toEqual(['d1', 'd2']);
    expect(docs.find((d) => d.profile.name === 'd1')!.profile.custom15).toBe('removed from Casebridge');
    expect(docs.find((d) => d.profile.name === 'd2')!.profile.custom15).toBeUndefined();
  });

  it('disconnects and shows the signed receipt', { timeout: 90_000 }, async () => {
    await admin.goto(`${base}/imanage`);
    await admin.click('#disconnect-imanage');
    await admin.click('#confirm-disconnect');
    await admin.waitForURL(/\/receipts\/[0-9a-f-]{36}$/);
    await until(async () => {
      await env.waitIdle();
      await admin.reload();
      return (await admin.$('#receipt-verified')) !== null;
    }, 'the signed receipt');
    await noSeriousViolations(admin);
    await admin.goto(`${base}/imanage`);
    expect(await admin.$('#connect-imanage')).not.toBeNull();
  });
});
