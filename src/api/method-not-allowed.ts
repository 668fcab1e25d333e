import type { App } from './env.ts';

/** A route's path pattern (`/v1/connections/:id`, `/v1/x/*`) as an anchored regular expression. */
function pathPattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      // `:id` and `:id{[0-9]+}`: one segment (the custom pattern is not needed to tell paths apart).
      if (segment.startsWith(':')) return '[^/]+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/**
 * The methods the app answers on `path` (HEAD with GET, as Hono does), for a 405's `Allow` header.
 * Middleware registrations (`ALL`) do not count: they accept any method but answer none.
 */
export function allowedMethods(app: App, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL' || !pathPattern(route.path).test(path)) continue;
    methods.add(route.method.toUpperCase());
    if (route.method.toUpperCase() === 'GET') methods.add('HEAD');
  }
  return [...methods].sort();
}
