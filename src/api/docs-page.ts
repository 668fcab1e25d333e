import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { SESSION_COOKIE } from '../auth/session-store.ts';
import type { AppEnv } from './env.ts';

/**
 * `/docs`: Swagger UI over `/openapi.json`, served from the installed (pinned) `swagger-ui-dist`
 * package by this app — no CDN, so the page works offline and no third-party script ever runs on
 * the origin that holds the session cookie. The page's Content-Security-Policy allows scripts from
 * this origin only (the initializer is a file, not an inline script), no frames around it, and
 * requests to this origin only.
 */

/** The UI's files, by the name they are served under, with their content type. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/**
 * Styles are allowed inline because the UI sets `style` attributes from its React components;
 * scripts are not.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Casebridge API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: the UI would otherwise ask validator.swagger.io about our API description.
// For a signed-in user, "Try it out" must send the session's CSRF header on state-changing calls
// (the `csrf` security scheme): the initializer reads the token from /docs/csrf (same origin, the
// cookie goes with it; 200 with null when signed out, so the console stays clean) and
// pre-authorizes the scheme with it.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  onComplete: function () {
    fetch('/docs/csrf', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (s) { if (s && s.csrfToken) window.ui.preauthorizeApiKey('csrf', s.csrfToken); })
      .catch(function () {});
  },
});
`;

const distDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const loaded = new Map<string, Promise<Buffer>>();

/** Reads an asset once; the package does not change while the process runs. */
function asset(name: string): Promise<Buffer> {
  let bytes = loaded.get(name);
  if (!bytes) {
    bytes = readFile(path.join(distDir, name));
    // A failed read is retried at the next request rather than cached.
    bytes.catch(() => loaded.delete(name));
    loaded.set(name, bytes);
  }
  return bytes;
}

const pageHeaders = {
  'content-security-policy': DOCS_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** Registers `/docs`, its initializer and its assets. */
export function registerDocs(app: Hono<AppEnv>): void {
  app.get('/docs', (c) => c.html(PAGE, 200, pageHeaders));
  // The signed-in session's CSRF token for the initializer (readable by this origin only: no CORS).
  app.get('/docs/csrf', async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    const session = id ? await c.get('services').sessions.get(id) : null;
    return c.json({ csrfToken: session?.csrfToken ?? null }, 200, { 'cache-control': 'no-store' });
  });
  app.get('/docs/init.js', (c) => c.body(INIT, 200, { ...pageHeaders, 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/docs/assets/:name', async (c) => {
    const name = c.req.param('name');
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) return c.notFound();
    const bytes = await asset(name);
    return c.body(new Uint8Array(bytes), 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  });
}
