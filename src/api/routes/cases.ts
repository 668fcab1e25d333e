import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { UserPrincipal } from '../../auth/principal.ts';
import { findCaseForUser, listAssignedCases } from '../../cases/lookup.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { pageOf, pageQuery } from '../pagination.ts';
import { ErrorSchema as errorResponseSchema } from '../schemas.ts';

const caseSummarySchema = z
  .object({
    id: z.uuid().openapi({ description: 'Use this id in a consent case scope' }),
    number: z.string(),
    title: z.string(),
    clientName: z.string().nullable(),
    status: z.string(),
    eventCount: z.number().int().openapi({ description: 'Live (not deleted) events' }),
    updatedAt: z.string(),
  })
  .openapi('CaseSummary');

const caseDetailSchema = caseSummarySchema
  .extend({
    assignees: z.array(z.string()),
    documentCount: z.number().int(),
    contactCount: z.number().int(),
  })
  .openapi('CaseDetail');

const errors = {
  401: { description: 'Not signed in', content: { 'application/json': { schema: errorResponseSchema } } },
  404: { description: 'No such case for you', content: { 'application/json': { schema: errorResponseSchema } } },
};

/** The `(number, id)` position of a cases cursor, or 400 `invalid_cursor`. */
function decodeCaseCursor(cursor: string | undefined): { number: string; id: string } | null {
  if (cursor === undefined) return null;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && UUID.test(value[1])) {
      return { number: value[0], id: value[1] };
    }
  } catch {
    // not JSON: not one of ours
  }
  throw new ApiError(400, 'invalid_cursor', 'the cursor is not one this API returned');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function user(c: Context<AppEnv>): UserPrincipal {
  const p = c.get('principal');
  if (p?.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
  return p;
}

/**
 * `GET /v1/cases` and `GET /v1/cases/{id}` for signed-in users: the cases assigned to them (by
 * e-mail), to choose a consent's case scope. Another organization's case, or one not assigned to a
 * member, answers 404 like an unknown id.
 */
export const caseRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/cases',
      operationId: 'listCases',
      description: "The cases assigned to the signed-in user (by e-mail address), by number; use their ids in a consent's case scope.",
      tags: ['Cases'],
      summary: 'The cases assigned to the signed-in user',
      ...auth,
      request: { query: pageQuery({ defaultLimit: 100, maxLimit: 500 }) },
      responses: {
        200: { description: 'A page of cases, by number', content: { 'application/json': { schema: pageOf(caseSummarySchema, 'CasePage') } } },
        400: { description: '`validation_failed`, `invalid_cursor`', content: { 'application/json': { schema: errorResponseSchema } } },
        401: errors[401],
      },
    }),
    async (c) => {
      const p = user(c);
      const { limit, cursor } = c.req.valid('query');
      const rows = await listAssignedCases(services.db, {
        organizationId: p.organizationId,
        userId: p.userId,
        limit: limit + 1,
        after: decodeCaseCursor(cursor),
      });
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      const nextCursor = rows.length > limit && last ? Buffer.from(JSON.stringify([last.number, last.id])).toString('base64url') : null;
      return c.json({ items, nextCursor }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/cases/{id}',
      operationId: 'getCase',
      description:
        "One case assigned to the signed-in user, or any case of the organization for an administrator. Another organization's case answers 404 like an unknown id.",
      tags: ['Cases'],
      summary: 'One case assigned to the signed-in user (any case of the organization for an administrator)',
      ...auth,
      request: { params: z.object({ id: z.string().openapi({ description: 'Casebridge case id' }) }) },
      responses: {
        200: { description: 'The case', content: { 'application/json': { schema: caseDetailSchema } } },
        ...errors,
      },
    }),
    async (c) => {
      const p = user(c);
      const found = await findCaseForUser(services.db, {
        organizationId: p.organizationId,
        userId: p.userId,
        role: p.role,
        caseId: c.req.valid('param').id,
      });
      if (!found) throw new ApiError(404, 'not_found', 'case not found');
      return c.json(found, 200);
    },
  );
};
