import { existsSync, mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';

/** Debian's Chromium, driven through playwright-core; the browser tests skip (with a warning) without it. */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/** Headless Chromium without the background traffic a desktop browser makes (the tests run on loopback). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Screenshots for the README go here when SCREENSHOTS_DIR is set (`npm run screenshots`). */
export const SHOTS = process.env.SCREENSHOTS_DIR ?? null;

/** Saves a full-page screenshot named `name` when screenshots are asked for; otherwise nothing. */
export async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

/** axe on the page as it is now: no serious or critical violation (each one named with its nodes). */
export async function noSeriousViolations(page: Page): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
}

/** Signs a browser context in with a session the test helper made (`signInAs` headers), for pages at `base`. */
export async function useSession(context: BrowserContext, base: string, headers: Record<string, string>): Promise<void> {
  await context.addCookies([{ name: SESSION_COOKIE, value: /cb_session=([^;]+)/.exec(headers.cookie!)![1]!, url: base }]);
}
