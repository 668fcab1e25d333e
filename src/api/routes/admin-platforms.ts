import { createRoute, z } from '@hono/zod-openapi';
import { connectors } from '../../../connectors/registry.ts';
import { type KeysetSpec, keysetPage } from '../../db/page-cursor.ts';
import { setPlatformEnabled } from '../../revocation/platform-switch.ts';
import { enqueueRevocation } from '../../revocation/queue.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { decodeListCursor, pageOf, pageQuery } from '../pagination.ts';
import { requesterOf } from '../revocation-view.ts';
import { ErrorSchema } from '../schemas.ts';

const PlatformSchema = z
  .object({ platform: z.string(), name: z.string(), enabled: z.boolean() })
  .openapi('Platform', { description: 'A platform and whether this organization allows it' });

const PlatformSwitchResultSchema = z
  .object({
    platform: z.string(),
    enabled: z.boolean(),
    revocationId: z.uuid().optional().openapi({ description: 'When existing connections were revoked' }),
    connectionsRevoked: z.number().int().optional(),
    connectionsPaused: z.number().int().optional().openapi({ description: 'When existing connections were paused' }),
  })
  .openapi('PlatformSwitchResult');

const PlatformSwitchSchema = z
  .object({
    enabled: z.boolean(),
    existingConnections: z.enum(['revoke', 'pause']).default('pause'),
    reason: z.string().trim().min(1).max(1000).default('platform disabled by an administrator'),
  })
  .openapi('PlatformSwitch');

/** Platforms are listed by id (a handful: one page is typical, the cursor keeps the list shape). */
const PLATFORM_CURSOR: KeysetSpec<'string'> = { sort: 'string', key: /^[a-z0-9_-]{1,64}$/ };

/** `/v1/admin/platforms`: which platforms the organization allows, and the switch that turns one off. */
export const adminPlatformRoutes: RouteModule = (app, services) => {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/platforms',
      operationId: 'listPlatforms',
      description:
        'Organization administrators only. Every platform of the deployment and whether this organization allows it, by platform id, paged with `cursor`.',
      tags: ['revocation'],
      summary: 'Platforms and whether this organization allows them',
      security: [{ session: [] }],
      middleware: [sessionAuth(services.sessions), requireAdmin()] as const,
      request: { query: pageQuery() },
      responses: {
        200: { content: { 'application/json': { schema: pageOf(PlatformSchema, 'PlatformPage') } }, description: 'A page of platforms' },
        400: { content: { 'application/json': { schema: ErrorSchema } }, description: '`validation_failed`, `invalid_cursor`' },
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`unauthenticated`' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: '`admin_required`' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const q = c.req.valid('query');
      const cursor = decodeListCursor(q.cursor, PLATFORM_CURSOR);
      const org = await services.db.selectFrom('organizations').select('settings').where('id', '=', p.organizationId).executeTakeFirstOrThrow();
      const disabled = new Set(org.settings.disabledPlatforms ?? []);
      const all = connectors.map((k) => ({ platform: k.manifest.id, name: k.manifest.displayName, enabled: !disabled.has(k.manifest.id) }));
      return c.json(keysetPage(all, { at: (k) => ({ sort: k.platform, key: k.platform }), direction: 'asc', limit: q.limit, cursor }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/admin/platforms/{platform}',
      operationId: 'setPlatformEnabled',
      tags: ['revocation'],
      summary: 'Enable or disable a platform for the organization',
      description: 'Disabling stops new connections at once; existing connections are revoked (through the revocation pipeline) or paused, as chosen.',
      security: [{ session: [] }],
      middleware: [sessionAuth(services.sessions), requireAdmin()] as const,
      request: {
        params: z.object({ platform: z.string().min(1).max(64) }),
        body: { content: { 'application/json': { schema: PlatformSwitchSchema } }, required: true },
      },
      responses: {
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`unauthenticated`' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: '`admin_required`, `csrf_token_invalid`' },
        200: { content: { 'application/json': { schema: PlatformSwitchResultSchema } }, description: 'Switched' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Unknown platform' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const { platform } = c.req.valid('param');
      if (!connectors.some((k) => k.manifest.id === platform)) throw new ApiError(404, 'unknown_platform', `no platform named ${platform}`);
      const body = c.req.valid('json');
      const result = await setPlatformEnabled(services, {
        organizationId: p.organizationId,
        platform,
        enabled: body.enabled,
        existingConnections: body.existingConnections,
        reason: body.reason,
        requestedBy: requesterOf(c),
        enqueue: (rid) => enqueueRevocation(services, rid),
      });
      return c.json(result, 200);
    },
  );
};
