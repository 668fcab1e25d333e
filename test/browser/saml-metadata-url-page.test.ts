import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { oneLoginIdp } from '../../sandbox/onelogin/idp.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';
import type { App } from '../../src/api/env.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { CHROMIUM, hasChromium, launchChromium, noSeriousViolations, useSession } from './support.ts';

if (!hasChromium) console.warn(`browser SAML metadata URL test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * An administrator configures SAML on `/admin/sign-in` from the sandbox OneLogin's metadata URL (a
 * loopback http URL: the deployment allows private hosts here, as a development one would); a URL
 * the service cannot use gives the error page with its code and without what was fetched. axe on
 * the form, the saved page and the error page.
 */
describe.skipIf(!hasChromium)('the SAML metadata URL form in a real browser', () => {
  let sandbox: Sandbox;
  let t: TestServices;
  let server: ServerType;
  let base: string;
  let browser: Browser;
  let firm: SeededOrg;
  let admin: Page;

  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
    const appRef: { app?: App } = {};
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: (req, env) => appRef.app!.fetch(req, env), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await createTestServices({ SANDBOX_URL: sandbox.url, PUBLIC_BASE_URL: base, SAML_METADATA_ALLOW_PRIVATE_HOSTS: 'true' });
    appRef.app = t.app;
    firm = await seedOrg(t.services, 'Okafor Partners');
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const headers = await signInAs(t.services, { id: firm.admin.id, organizationId: firm.organizationId, role: 'admin' });
    await useSession(context, base, headers);
    admin = await context.newPage();
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

  it('saves the identity provider from its metadata URL', async () => {
    await admin.goto(`${base}/admin/sign-in`);
    expect(await admin.textContent('#idp-none')).toContain('No identity provider yet');
    expect(await admin.textContent('label[for="metadata-url"]')).toContain('metadata URL');
    await noSeriousViolations(admin);
    const idp = oneLoginIdp(sandbox.state);
    await admin.fill('#metadata-url', idp.metadataUrl('okafor'));
    await admin.click('#save-saml');
    await admin.waitForURL(`${base}/admin/sign-in?saved=saml`);
    expect(await admin.textContent('#idp-config')).toContain(idp.entityId('okafor'));
    await noSeriousViolations(admin);
    const event = await t.services.db
      .selectFrom('security_events')
      .select(['details'])
      .where('organization_id', '=', firm.organizationId)
      .where('kind', '=', 'saml_config_updated')
      .executeTakeFirstOrThrow();
    expect(event.details).toMatchObject({ source: 'metadata_url', entityId: idp.entityId('okafor') });
  }, 60_000);

  it('shows why a URL cannot be used, and keeps the saved identity provider', async () => {
    await admin.goto(`${base}/admin/sign-in`);
    await admin.fill('#metadata-url', `${sandbox.url}/_sandbox/no-such-metadata`);
    const [answer] = await Promise.all([admin.waitForResponse((r) => r.url() === `${base}/admin/sign-in/saml`), admin.click('#save-saml')]);
    expect(answer.status()).toBe(422);
    expect(await admin.textContent('body')).toContain('The metadata cannot be used: the metadata URL answered HTTP 404');
    await noSeriousViolations(admin);
    await admin.goto(`${base}/admin/sign-in`);
    expect(await admin.textContent('#idp-config')).toContain(oneLoginIdp(sandbox.state).entityId('okafor'));
  }, 60_000);
});
