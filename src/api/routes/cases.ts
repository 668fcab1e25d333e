import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { UserPrincipal } from '../../auth/principal.ts';
import { findCaseForUser, listAssignedCases } from '../../cases/lookup.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
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
      responses: {
        200: {
          description: 'Cases by number',
          content: { 'application/json': { schema: z.object({ cases: z.array(caseSummarySchema) }) } },
        },
        401: errors[401],
      },
    }),
    async (c) => {
      const p = user(c);
      const cases = await listAssignedCases(services.db, { organizationId: p.organizationId, userId: p.userId });
      return c.json({ cases }, 200);
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
