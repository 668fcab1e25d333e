import { createRoute, z } from '@hono/zod-openapi';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { endUserSessions } from '../../auth/session-admin.ts';
import { findUser } from '../../auth/users.ts';
import { type KeysetSpec, keysetPage } from '../../db/page-cursor.ts';
import type { RouteModule } from '../env.ts';
import { notFound } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { decodeListCursor, pageOf, pageQuery } from '../pagination.ts';
import { errorResponse as err } from '../schemas.ts';

const SessionSchema = z
  .object({
    handle: z.string().describe('Opaque id of the session (never the cookie value)'),
    method: z.string(),
    createdAt: z.string(),
    lastSeenAt: z.string(),
    absoluteExpiresAt: z.string(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    current: z.boolean().describe("Whether it is the caller's own session"),
  })
  .openapi('UserSession');

/** Sessions are listed newest first, the handle breaking ties. */
const SESSION_CURSOR: KeysetSpec<'time'> = { sort: 'time', key: /^[0-9a-f]{64}$/ };

/**
 * An administrator lists a user's live sessions and ends one or all of them
 * (`/v1/admin/users/{id}/sessions[/{handle}]`). Users of other organizations answer 404.
 */
export const adminSessionRoutes: RouteModule = (app, services) => {
  const guard = [sessionAuth(services.sessions), requireAdmin()] as const;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/users/{id}/sessions',
      operationId: 'listUserSessions',
      description:
        "Organization administrators only. A user's live sessions, by an opaque handle (never the session id), with how and when each started; newest first, paged with `cursor`.",
      tags: ['Users (admin)'],
      summary: "A user's live sessions",
      middleware: [...guard],
      security: [{ session: [] }],
      request: { params: z.object({ id: z.uuid() }), query: pageQuery() },
      responses: {
        200: { description: 'A page of sessions, newest first', content: { 'application/json': { schema: pageOf(SessionSchema, 'UserSessionPage') } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('Not signed in'),
        403: err('`admin_required`'),
        404: err('`not_found`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      const cursor = decodeListCursor(q.cursor, SESSION_CURSOR);
      if (!(await findUser(services.db, p.organizationId, id))) throw notFound('user');
      const own = services.sessions.handleOf(p.sessionId);
      const live = (await services.sessions.listForUser(id)).filter(({ session }) => session.organizationId === p.organizationId);
      const page = keysetPage(live, { at: (s) => ({ sort: new Date(s.session.createdAt), key: s.handle }), direction: 'desc', limit: q.limit, cursor });
      const items = page.items.map(({ handle, session }) => ({
        handle,
        method: session.method.startsWith('saml:') ? 'saml' : session.method,
        createdAt: new Date(session.createdAt).toISOString(),
        lastSeenAt: new Date(session.lastSeenAt).toISOString(),
        absoluteExpiresAt: new Date(session.absoluteExpiresAt).toISOString(),
        ip: session.ip ?? null,
        userAgent: session.userAgent ?? null,
        current: handle === own,
      }));
      return c.json({ items, nextCursor: page.nextCursor }, 200);
    },
  );

  const end = async (p: UserPrincipal, userId: string, handle: string | undefined, request: { ip: string | null; ua: string | null }) => {
    const ended = await endUserSessions(services, {
      organizationId: p.organizationId,
      actorUserId: p.userId,
      userId,
      ...(handle ? { handle } : {}),
      ip: request.ip,
      userAgent: request.ua,
    });
    if (ended === null) throw notFound('user');
    if (handle && ended === 0) throw notFound('session');
    return ended;
  };

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/users/{id}/sessions',
      operationId: 'endUserSessions',
      description: 'Organization administrators only. Ends every live session of the user; each is recorded as a security event.',
      tags: ['Users (admin)'],
      summary: "End all of a user's sessions",
      middleware: [...guard],
      security: [{ session: [] }],
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        200: { description: 'Ended', content: { 'application/json': { schema: z.object({ sessionsEnded: z.number() }) } } },
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        404: err('`not_found`'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const sessionsEnded = await end(c.get('principal') as UserPrincipal, id, undefined, { ip: clientIp(c), ua: userAgent(c) });
      return c.json({ sessionsEnded }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/users/{id}/sessions/{handle}',
      operationId: 'endUserSession',
      description: 'Organization administrators only. Ends one session of a user, named by the handle the session list shows.',
      tags: ['Users (admin)'],
      summary: "End one of a user's sessions",
      middleware: [...guard],
      security: [{ session: [] }],
      request: { params: z.object({ id: z.uuid(), handle: z.string().regex(/^[0-9a-f]{64}$/) }) },
      responses: {
        200: { description: 'Ended', content: { 'application/json': { schema: z.object({ sessionsEnded: z.number() }) } } },
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        404: err('`not_found` (user or session)'),
      },
    }),
    async (c) => {
      const { id, handle } = c.req.valid('param');
      const sessionsEnded = await end(c.get('principal') as UserPrincipal, id, handle, { ip: clientIp(c), ua: userAgent(c) });
      return c.json({ sessionsEnded }, 200);
    },
  );
};
