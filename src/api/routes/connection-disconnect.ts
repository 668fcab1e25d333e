import { createRoute, z } from '@hono/zod-openapi';
import { enqueueRevocation } from '../../revocation/queue.ts';
import { disconnectOwnConnection, RevocationError } from '../../revocation/service.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { accepted } from '../revocation-view.ts';
import { AcceptedSchema } from '../schemas/revocations.ts';
import { ErrorSchema } from '../schemas.ts';

/** `DELETE /v1/connections/{id}`: a user disconnects their own connection through the revocation pipeline. */
export const connectionDisconnectRoutes: RouteModule = (app, services) => {
  // A user disconnects their own connection: the same pipeline, scoped to their connections.
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/connections/{id}',
      operationId: 'disconnectConnection',
      description:
        "Revokes one of the user's connections and withdraws its consent; provider-side clean-up runs in the background and ends with a signed receipt.",
      tags: ['connections'],
      summary: 'Disconnect one of your connections (revokes it, withdraws its consent)',
      security: [{ session: [] }],
      middleware: [sessionAuth(services.sessions)] as const,
      request: {
        params: z.object({ id: z.uuid() }),
        query: z.object({ purgeRemote: z.enum(['true', 'false']).default('false') }),
      },
      responses: {
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: '`unauthenticated`' },
        403: {
          content: { 'application/json': { schema: ErrorSchema } },
          description: '`csrf_token_invalid`, `admin_required` (a member, for an organization-level connection)',
        },
        202: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Disconnected; clean-up in progress' },
        200: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Already disconnected' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'No such connection of yours' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
      const { id } = c.req.valid('param');
      let result: Awaited<ReturnType<typeof disconnectOwnConnection>>;
      try {
        result = await disconnectOwnConnection(services, {
          principal: p,
          connectionId: id,
          purgeRemote: c.req.valid('query').purgeRemote === 'true',
          enqueue: (rid) => enqueueRevocation(services, rid),
        });
      } catch (err) {
        if (err instanceof RevocationError) throw new ApiError(404, 'not_found', 'connection not found');
        throw err;
      }
      return c.json(accepted(result), result.created ? 202 : 200);
    },
  );
};
