import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Services } from '../services.ts';
import type { WebApp } from './env.ts';

/** Where the queue dashboard lives (inside the admin console: administrators only). */
export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * The dashboard's own policy: bull-board's UI runs its bundled scripts and inline styles from this
 * origin, so it cannot take the pages' nonce-only policy; still nothing from a third party.
 */
const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'";

/**
 * `@bull-board/hono` on `/admin/queues`, read-only: it shows the sync, import, revoke and
 * maintenance queues. It is read-only because its own requests carry no CSRF token (the pages
 * refuse such writes anyway), and a queue's jobs are managed by the service, not by hand.
 */
export function registerQueueDashboard(web: WebApp, services: Services): void {
  const adapter = new HonoAdapter(serveStatic);
  const q = services.queues;
  createBullBoard({
    queues: [q.sync, q.import, q.revoke, q.maintenance].map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Casebridge queues' } },
  });
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  web.use(`${QUEUE_DASHBOARD_PATH}/*`, async (c, next) => {
    c.set('cspPolicy', DASHBOARD_CSP);
    await next();
  });
  web.use(QUEUE_DASHBOARD_PATH, async (c, next) => {
    c.set('cspPolicy', DASHBOARD_CSP);
    await next();
  });
  web.route(QUEUE_DASHBOARD_PATH, adapter.registerPlugin() as unknown as WebApp);
}
