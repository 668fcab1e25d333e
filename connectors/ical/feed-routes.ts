import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv, RouteModule } from '../../src/api/env.ts';
import { ApiError } from '../../src/api/errors.ts';
import { sessionAuth } from '../../src/api/middleware/session-auth.ts';
import { decodePageCursor, pageOf, pageQuery } from '../../src/api/pagination.ts';
import { ErrorSchema } from '../../src/api/schemas.ts';
import { clientIp, userAgent } from '../../src/auth/login-flow.ts';
import type { UserPrincipal } from '../../src/auth/principal.ts';
import { caseScopeSchema as sharedCaseScopeSchema } from '../../src/consent/case-scope.ts';
import type { CategoryId } from '../../src/consent/categories.ts';
import { enqueueRevocation } from '../../src/revocation/queue.ts';
import { createFeed, deleteFeed, type FeedOwner, IcalFeedError, listFeedsPage, rotateFeed } from './feeds.ts';
import { icalManifest } from './manifest.ts';
import { feedUrl } from './tokens.ts';

const [requiredCategory, ...optionalCategories] = icalManifest.categories as [CategoryId, ...CategoryId[]];
const categoryEnum = z.enum(icalManifest.categories as [CategoryId, ...CategoryId[]]);

const caseScopeSchema = z
  .discriminatedUnion('kind', [z.object({ kind: z.literal('all') }), z.object({ kind: z.literal('cases'), caseIds: z.array(z.uuid()).min(1).max(500) })])
  .openapi('IcalCaseScope', { description: 'All cases assigned to you, or a list of them' });

const feedSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    tokenHint: z.string().openapi({ description: 'First characters of the current token, to tell feeds apart' }),
    categories: z.array(categoryEnum),
    caseScope: sharedCaseScopeSchema,
    status: z.string().openapi({ description: '`active`, or `revoked` once deleted or revoked by an administrator' }),
    createdAt: z.string(),
    rotatedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    lastFetchedAt: z.string().nullable().openapi({ description: 'Last fetch answered 200 or 304 (transfer log)' }),
    fetchCount: z.number().int(),
  })
  .openapi('IcalFeed');

const createBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    categories: z
      .array(categoryEnum)
      .min(1)
      .refine((c) => c.includes(requiredCategory), { message: `must include ${requiredCategory}` })
      .openapi({ description: `\`${requiredCategory}\` is required; ${optionalCategories.map((c) => `\`${c}\``).join(', ')} optional` }),
    caseScope: caseScopeSchema,
  })
  .openapi('IcalFeedCreate');

const withUrl = z.object({
  feed: feedSchema,
  url: z.string().openapi({ description: 'The subscription URL. Shown only in this answer: store it in your calendar app now.' }),
});

const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } });
const authErrors = {
  401: err('Not signed in'),
  403: err('CSRF token missing, or your account is not active'),
};

function ownerOf(c: Context<AppEnv>): FeedOwner {
  const p = c.get('principal');
  if (p?.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
  const user = p as UserPrincipal;
  return { organizationId: user.organizationId, userId: user.userId };
}

function asApiError(e: unknown): never {
  if (e instanceof IcalFeedError) throw new ApiError(e.status, e.code, e.message, e.details);
  throw e;
}

/**
 * `/v1/ical-feeds`: a signed-in user's iCal subscription feeds. Creating one records the consent
 * (method `api`) and returns the secret URL once; rotating returns a new URL once and kills the old
 * one; deleting revokes the connection and withdraws the consent. Another user's feed is a 404.
 */
export const icalFeedRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };
  const base = services.config.PUBLIC_BASE_URL;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/ical-feeds',
      operationId: 'createIcalFeed',
      description: 'Creates a personal iCal subscription feed under a consent; its secret URL is shown in this answer only.',
      tags: ['iCal feeds'],
      summary: 'Create a feed (its URL is shown once, in this answer)',
      ...auth,
      request: { body: { required: true, content: { 'application/json': { schema: createBody } } } },
      responses: {
        201: { description: 'Created', content: { 'application/json': { schema: withUrl } } },
        400: err('Validation failed'),
        404: err('`case_not_found`: a case id is unknown or not assigned to you (`details.caseIds`)'),
        ...authErrors,
      },
    }),
    async (c) => {
      const owner = ownerOf(c);
      const body = c.req.valid('json');
      const created = await createFeed(services, {
        ...owner,
        name: body.name,
        categories: [...new Set(body.categories)],
        caseScope: body.caseScope,
        ip: clientIp(c),
        userAgent: userAgent(c),
      }).catch(asApiError);
      services.logger.info({ organizationId: owner.organizationId, feedId: created.feed.id }, 'ical feed created');
      return c.json({ feed: created.feed, url: feedUrl(base, created.token) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/ical-feeds',
      operationId: 'listIcalFeeds',
      description: "The signed-in user's feeds with their status and last fetch — never their URLs; newest first, paged with `cursor`.",
      tags: ['iCal feeds'],
      summary: 'Your feeds (never their URLs)',
      ...auth,
      request: { query: pageQuery().extend({ includeRevoked: z.enum(['true', 'false']).optional() }) },
      responses: {
        200: { description: 'A page of feeds, newest first', content: { 'application/json': { schema: pageOf(feedSchema, 'IcalFeedPage') } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        ...authErrors,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const cursor = decodePageCursor(q.cursor);
      return c.json(await listFeedsPage(services.db, ownerOf(c), { includeRevoked: q.includeRevoked === 'true', limit: q.limit, cursor }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/ical-feeds/{id}/rotate',
      operationId: 'rotateIcalFeed',
      description: "Replaces a feed's secret URL: the old one answers 404 at once; the new one is in this answer only.",
      tags: ['iCal feeds'],
      summary: 'Replace the URL: the old one answers 404 at once, the new one is shown once',
      ...auth,
      request: { params: z.object({ id: z.string() }) },
      responses: {
        200: { description: 'Rotated', content: { 'application/json': { schema: withUrl } } },
        404: err('No such live feed of yours'),
        ...authErrors,
      },
    }),
    async (c) => {
      const owner = ownerOf(c);
      const rotated = await rotateFeed(services.db, owner, c.req.valid('param').id).catch(asApiError);
      services.logger.info({ organizationId: owner.organizationId, feedId: rotated.feed.id }, 'ical feed token rotated');
      return c.json({ feed: rotated.feed, url: feedUrl(base, rotated.token) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/ical-feeds/{id}',
      operationId: 'deleteIcalFeed',
      description: 'Deletes a feed: its URL stops working at once and its connection is revoked through the revocation pipeline (receipt, audit).',
      tags: ['iCal feeds'],
      summary: 'Delete a feed: URL dead at once; the connection is revoked through the revocation pipeline (receipt, audit)',
      ...auth,
      request: { params: z.object({ id: z.string() }) },
      responses: {
        204: { description: 'Deleted' },
        404: err('No such live feed of yours'),
        ...authErrors,
      },
    }),
    async (c) => {
      const owner = ownerOf(c);
      const { id } = c.req.valid('param');
      await deleteFeed(services, owner, id, (revocationId) => enqueueRevocation(services, revocationId)).catch(asApiError);
      services.logger.info({ organizationId: owner.organizationId, feedId: id }, 'ical feed deleted');
      return c.body(null, 204);
    },
  );
};
