import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/api/env.ts';
import { hashInvitationToken } from '../../src/invitations/service.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';
import { CHROMIUM, hasChromium, launchChromium, noSeriousViolations } from './support.ts';

if (!hasChromium) console.warn(`invitation page test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * The page an invitation e-mail links to, in headless Chromium against the real app and database:
 * who invites whom to which organization, the Accept button (CSRF double submit, no session), the
 * membership it creates and the organization's sign-in link page it leads to; used, expired and
 * forged requests answer with the API's codes. Every page passes axe with no serious violation.
 */
describe.skipIf(!hasChromium)('the invitation accept page in a real browser', () => {
  let env: SyncEnv;
  let server: ServerType;
  let base: string;
  let browser: Browser;

  /** An invitation as `inviteContact` leaves it once sent (only the token's hash is stored). */
  async function invitation(email: string, expiresAt = new Date(Date.now() + 86_400_000)): Promise<{ token: string; id: string }> {
    const token = `cbi_${randomBytes(32).toString('base64url')}`;
    const row = await env.t.services.db
      .insertInto('contact_invitations')
      .values({
        organization_id: env.org.organizationId,
        inviter_user_id: env.org.member.id,
        email,
        channel: 'smtp',
        status: 'sent',
        token_hash: hashInvitationToken(token),
        expires_at: expiresAt,
        sent_at: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { token, id: row.id };
  }

  const statusOf = async (id: string) =>
    (await env.t.services.db.selectFrom('contact_invitations').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

  beforeAll(async () => {
    const appRef: { app?: App } = {};
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: (req, e) => appRef.app!.fetch(req, e), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    env = await createSyncEnv({ env: { PUBLIC_BASE_URL: base } });
    appRef.app = env.t.app;
    browser = await launchChromium();
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

  it('shows who invites whom; Accept creates the membership once and leads to the organization’s sign-in link', async () => {
    const { token, id } = await invitation('new.colleague@elsewhere.example');
    const context = await browser.newContext();
    const page = await context.newPage();
    const res = await page.goto(`${base}/invitations/${token}`);
    expect(res!.status()).toBe(200);
    const csp = res!.headers()['content-security-policy']!;
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]{24}'/);
    expect(csp).toContain("form-action 'self'");
    expect(await page.textContent('h1')).toBe('Join Test Firm on Casebridge');
    expect(await page.textContent('#invitation-text')).toContain('Max Member invites you (new.colleague@elsewhere.example) to join Test Firm');
    await noSeriousViolations(page);
    // Opening the page accepted nothing.
    expect(await statusOf(id)).toBe('sent');

    await page.click('#accept-invitation');
    await page.waitForURL(/\/auth\/link\/[^/]+$/);
    expect(await page.textContent('h1')).toBe('Sign in to Test Firm');
    expect(await page.textContent('#link-email')).toBe('new.colleague@elsewhere.example');
    await noSeriousViolations(page);
    expect(await statusOf(id)).toBe('accepted');
    const members = await env.t.services.db
      .selectFrom('users')
      .select(['role'])
      .where('organization_id', '=', env.org.organizationId)
      .where('email', '=', 'new.colleague@elsewhere.example')
      .execute();
    expect(members).toEqual([{ role: 'member' }]);

    // Used: the page says so, with the API's code.
    const again = await page.goto(`${base}/invitations/${token}`);
    expect(again!.status()).toBe(409);
    expect(await page.getAttribute('[data-error-code]', 'data-error-code')).toBe('invitation_used');
    await context.close();
  });

  it('an expired invitation is a 410 page; an unknown one 404', async () => {
    const { token } = await invitation('late@elsewhere.example', new Date(Date.now() - 1000));
    const context = await browser.newContext();
    const page = await context.newPage();
    const expired = await page.goto(`${base}/invitations/${token}`);
    expect(expired!.status()).toBe(410);
    expect(await page.getAttribute('[data-error-code]', 'data-error-code')).toBe('invitation_expired');
    await noSeriousViolations(page);
    const unknown = await page.goto(`${base}/invitations/cbi_${'A'.repeat(43)}`);
    expect(unknown!.status()).toBe(404);
    expect(await page.getAttribute('[data-error-code]', 'data-error-code')).toBe('invitation_not_found');
    await context.close();
  });

  it('a post without the page’s CSRF pair (another site’s form, or a wrong value) accepts nothing', async () => {
    const { token, id } = await invitation('forged@elsewhere.example');
    const post = (headers: Record<string, string>, csrf: string) =>
      fetch(`${base}/invitations/${token}/accept`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
        body: new URLSearchParams({ _csrf: csrf }),
      });
    const noCookie = await post({}, 'x'.repeat(43));
    expect(noCookie.status).toBe(403);
    expect(await noCookie.text()).toContain('data-error-code="csrf_token_invalid"');
    // The page's cookie, with another value in the form.
    const shown = await fetch(`${base}/invitations/${token}`);
    const cookie = /cb_invitation_csrf=([^;]+)/.exec(shown.headers.get('set-cookie') ?? '')![1]!;
    expect(shown.headers.get('set-cookie')).toMatch(/HttpOnly/i);
    expect(shown.headers.get('set-cookie')).toMatch(/SameSite=Strict/i);
    const wrong = await post({ cookie: `cb_invitation_csrf=${cookie}` }, `${cookie.slice(0, -1)}${cookie.endsWith('A') ? 'B' : 'A'}`);
    expect(wrong.status).toBe(403);
    expect(await statusOf(id)).toBe('sent');
    // The pair as the page gave it: accepted, sent to the sign-in link.
    const right = await post({ cookie: `cb_invitation_csrf=${cookie}` }, cookie);
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toMatch(/^\/auth\/link\/[A-Za-z0-9_-]+$/);
    expect(await statusOf(id)).toBe('accepted');
  });
});
