import { readFileSync } from 'node:fs';
import type { WebApp } from './env.ts';

/**
 * The pages' CSS and scripts, read once from this package and served from our own origin (the CSP
 * allows nothing else). Cached for an hour; they change only with a deployment.
 */
const ASSETS: Record<string, { type: string; body: string }> = {
  'casebridge.css': { type: 'text/css; charset=utf-8', body: readAsset('casebridge.css') },
  'consent.js': { type: 'text/javascript; charset=utf-8', body: readAsset('consent.js') },
  'live.js': { type: 'text/javascript; charset=utf-8', body: readAsset('live.js') },
};

function readAsset(name: string): string {
  return readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
}

/** `GET /assets/{name}`: the files above, or 404. */
export function registerAssets(web: WebApp): void {
  web.get('/assets/:name', (c) => {
    const asset = ASSETS[c.req.param('name')];
    if (!asset) return c.text('not found', 404);
    c.header('content-type', asset.type);
    c.header('cache-control', 'public, max-age=3600');
    c.header('x-content-type-options', 'nosniff');
    return c.body(asset.body);
  });
}
