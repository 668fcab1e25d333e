import type { Context } from 'hono';
import type { WebEnv } from './env.ts';

/** Sends a page: the doctype, then the rendered JSX (components are synchronous). */
export function sendPage(c: Context<WebEnv>, element: unknown, status: 200 | 400 | 401 | 403 | 404 | 409 | 410 | 413 | 429 | 500 | 502 | 503 = 200) {
  return c.html(`<!doctype html>${String(element)}`, status);
}

/** Sends an HTML fragment (live parts and the preview fetch these). */
export function sendFragment(c: Context<WebEnv>, element: unknown) {
  return c.html(String(element), 200);
}
