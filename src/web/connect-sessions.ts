import { createHash, randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { App } from '../api/env.ts';
import { ApiError } from '../api/errors.ts';
import { apiKeyAuth } from '../api/middleware/api-key-auth.ts';
import { cookieIsSecure, type SessionData } from '../auth/sessions.ts';
import { redisKey } from '../redis.ts';
import type { Services } from '../services.ts';
import type { WebApp, WebEnv } from './env.ts';
import { PageError } from './errors.ts';

/**
 * Connect sessions, for embedding: the organization's backend asks (API key) for a short-lived,
 * single-use link for one of its users; opening it signs that user into a **restricted** session
 * that only the connect pages accept (connected apps, consent, progress, shared data, disconnect,
 * receipts) — it lives in its own cookie, which no API route and no admin page reads — and offers a
 * way back to a `returnTo` whose origin the organization allow-listed
 * (`organizations.settings.connectReturnOrigins`).
 */

/** Lifetime of a connect link. */
export const CONNECT_LINK_SECONDS = 15 * 60;
/** The restricted session's cookie (never `cb_session`: the API does not accept it). */
export const CONNECT_COOKIE = 'cb_connect';
/** Where the restricted session goes back to (not a secret: an allow-listed URL). */
export const CONNECT_RETURN_COOKIE = 'cb_connect_return';
/** The session method that marks a restricted session. */
export const CONNECT_METHOD = 'connect_session';

const linkKey = (services: Services, token: string) => redisKey(services.config.REDIS_PREFIX, 'connect-link', createHash('sha256').update(token).digest('hex'));

interface PendingLink {
  organizationId: string;
  userId: string;
  returnTo: string | null;
}

const CreateSchema = z
  .object({
    email: z.email().max(320),
    returnTo: z.url().max(2048).optional(),
  })
  .openapi('ConnectSessionCreate');

/** Creates a single-use link for a user of the organization; the token is stored only as its SHA-256. */
export async function createConnectLink(
  services: Services,
  params: { organizationId: string; email: string; returnTo?: string },
): Promise<{ url: string; expiresAt: string }> {
  const user = await services.db
    .selectFrom('users')
    .select(['id', 'status'])
    .where('organization_id', '=', params.organizationId)
    .where('email', '=', params.email.toLowerCase())
    .executeTakeFirst();
  if (user?.status !== 'active') throw new ApiError(404, 'user_not_found', 'no active user of your organization has this e-mail address');
  let returnTo: string | null = null;
  if (params.returnTo) {
    const org = await services.db.selectFrom('organizations').select('settings').where('id', '=', params.organizationId).executeTakeFirst();
    const allowed = (org?.settings as { connectReturnOrigins?: string[] } | undefined)?.connectReturnOrigins ?? [];
    const url = new URL(params.returnTo);
    if (!['https:', 'http:'].includes(url.protocol) || !allowed.includes(url.origin)) {
      throw new ApiError(400, 'return_to_not_allowed', 'returnTo must be on an origin your organization allow-listed (settings.connectReturnOrigins)', {
        allowedOrigins: allowed,
      });
    }
    returnTo = url.toString();
  }
  const token = randomBytes(32).toString('base64url');
  const pending: PendingLink = { organizationId: params.organizationId, userId: user.id, returnTo };
  await services.redis.set(linkKey(services, token), JSON.stringify(pending), 'EX', CONNECT_LINK_SECONDS);
  return {
    url: `${services.config.PUBLIC_BASE_URL}/connect/${token}`,
    expiresAt: new Date(Date.now() + CONNECT_LINK_SECONDS * 1000).toISOString(),
  };
}

/** `POST /v1/connect-sessions` (API key): a link for one user. */
export function registerConnectSessionApi(app: App): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/connect-sessions',
      operationId: 'createConnectSession',
      description:
        "For the platform's backend (API key with `connections:manage`): a link that signs one of your users, named by e-mail, into the restricted connect pages. The token is stored only as its SHA-256 and works once.",
      tags: ['Connections'],
      summary: 'A short-lived, single-use link that signs a user into the connect pages (for embedding)',
      middleware: [apiKeyAuth({ scope: 'connections:manage' })] as const,
      security: [{ apiKey: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: CreateSchema } } } },
      responses: {
        201: {
          description: 'Send the user to `url` within 15 minutes; it works once',
          content: { 'application/json': { schema: z.object({ url: z.string(), expiresAt: z.string() }) } },
        },
        400: { description: '`validation_failed`, `return_to_not_allowed`' },
        401: { description: 'Missing or invalid API key' },
        404: { description: '`user_not_found`' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'api_key') throw new ApiError(401, 'missing_api_key', 'send the API key');
      const body = c.req.valid('json');
      return c.json(await createConnectLink(c.get('services'), { organizationId: p.organizationId, email: body.email, returnTo: body.returnTo }), 201);
    },
  );
}

/** `GET /connect/{token}`: consumes the link (once), starts the restricted session, opens Connected apps. */
export function registerConnectLinkPage(web: WebApp): void {
  web.get('/connect/:token', async (c) => {
    const services = c.get('services');
    const token = c.req.param('token');
    const raw = /^[A-Za-z0-9_-]{43}$/.test(token) ? await services.redis.getdel(linkKey(services, token)) : null;
    if (!raw) throw new PageError(410, 'connect_link_invalid', 'This link has expired or was already used. Go back to your application and open it again.');
    const pending = JSON.parse(raw) as PendingLink;
    const user = await services.db
      .selectFrom('users')
      .select(['role', 'status'])
      .where('id', '=', pending.userId)
      .where('organization_id', '=', pending.organizationId)
      .executeTakeFirst();
    if (user?.status !== 'active') throw new PageError(410, 'connect_link_invalid', 'This link is no longer valid.');
    const { id } = await services.sessions.create({
      userId: pending.userId,
      organizationId: pending.organizationId,
      role: user.role,
      method: CONNECT_METHOD,
    });
    const secure = cookieIsSecure(services.config.PUBLIC_BASE_URL);
    setCookie(c, CONNECT_COOKIE, id, { httpOnly: true, secure, sameSite: 'Lax', path: '/', maxAge: services.sessions.policy.absoluteSeconds });
    if (pending.returnTo) setCookie(c, CONNECT_RETURN_COOKIE, pending.returnTo, { httpOnly: true, secure, sameSite: 'Lax', path: '/' });
    else deleteCookie(c, CONNECT_RETURN_COOKIE, { path: '/' });
    return c.redirect('/apps', 303);
  });
}

/** The restricted session of a request, if it carries one and no full session. */
export async function connectSessionOf(c: Context<WebEnv>): Promise<{ id: string; session: SessionData } | null> {
  const id = getCookie(c, CONNECT_COOKIE);
  if (!id) return null;
  const session = await c.get('services').sessions.touch(id);
  return session && session.method === CONNECT_METHOD ? { id, session } : null;
}

/** Where a restricted session goes back to, if its link named one. */
export function connectReturnTo(c: Context<WebEnv>): string | null {
  return getCookie(c, CONNECT_RETURN_COOKIE) ?? null;
}
