import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../../src/api/env.ts';
import { ApiError } from '../../src/api/errors.ts';
import { requireAdmin, sessionAuth } from '../../src/api/middleware/session-auth.ts';
import { errorResponse as err } from '../../src/api/schemas.ts';
import { recordAudit } from '../../src/audit/audit-log.ts';
import type { UserPrincipal } from '../../src/auth/principal.ts';
import { removeFirmClient, saveFirmClient, viewFirmClient } from './firm-client.ts';

/**
 * `GET/PUT/DELETE /v1/admin/imanage/client`: the OAuth client the firm's iManage administrator
 * registered for Casebridge. Used for this organization's authorize, token and refresh calls instead
 * of the deployment's IMANAGE_CLIENT_ID/SECRET (which stay the fallback). The secret is write-only:
 * no answer, log line or audit entry ever carries it.
 */

const ClientView = z
  .object({
    configured: z.boolean(),
    clientId: z.string().nullable(),
    secretSet: z.boolean().openapi({ description: 'Whether a secret is stored (it is never shown)' }),
    updatedAt: z.string().nullable(),
  })
  .openapi('ImanageFirmClient');

const ClientInput = z
  .object({
    clientId: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
    clientSecret: z
      .string()
      .min(1)
      .max(500)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
  })
  .strict()
  .openapi('ImanageFirmClientInput');

const none = { configured: false, clientId: null, secretSet: false, updatedAt: null };

export const imanageFirmClientRoutes: RouteModule = (app, services) => {
  const guard = [sessionAuth(services.sessions), requireAdmin()] as const;
  const path = '/v1/admin/imanage/client';
  const tags = ['Connections (admin)'];

  app.openapi(
    createRoute({
      method: 'get',
      path,
      tags,
      operationId: 'getImanageFirmClient',
      description:
        'The OAuth client (client id and whether a secret is stored) that the organization registered at its own iManage server. Organization admins only; the secret is never answered, logged or audited.',
      summary: 'The firm’s own iManage OAuth client (the secret is never shown)',
      middleware: [...guard],
      security: [{ session: [] }],
      responses: {
        200: { description: 'The registration, or configured: false', content: { 'application/json': { schema: ClientView } } },
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const v = await viewFirmClient(services.db, p.organizationId);
      return c.json(v ? { configured: true, ...v } : none, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path,
      tags,
      operationId: 'setImanageFirmClient',
      description:
        'Registers the organization\u2019s iManage OAuth client id and secret, replacing any earlier one. The secret is sealed with the token keys (AES-256-GCM, bound to the organization) and used only at the firm\u2019s token endpoint; authorize, code exchange and refresh use it from then on.',
      summary: 'Register the firm’s iManage OAuth client id and secret (replaces the previous one)',
      middleware: [...guard],
      security: [{ session: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: ClientInput } } } },
      responses: {
        200: { description: 'Saved (the secret is not echoed)', content: { 'application/json': { schema: ClientView } } },
        400: err('`validation_failed`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const body = c.req.valid('json');
      const v = await saveFirmClient(services, {
        organizationId: p.organizationId,
        clientId: body.clientId,
        clientSecret: body.clientSecret,
        userId: p.userId,
      });
      await recordAudit(services.db, {
        organizationId: p.organizationId,
        actor: { kind: 'user', userId: p.userId },
        action: 'imanage_client.update',
        target: `organization:${p.organizationId}`,
        details: { clientId: body.clientId },
      });
      return c.json({ configured: true, ...v }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path,
      tags,
      operationId: 'deleteImanageFirmClient',
      description:
        'Removes the organization\u2019s own iManage OAuth client; connects and refreshes then use the deployment\u2019s client (IMANAGE_CLIENT_ID), if one is configured.',
      summary: 'Remove the firm’s iManage OAuth client (the deployment’s, if configured, is used again)',
      middleware: [...guard],
      security: [{ session: [] }],
      responses: {
        200: { description: 'Removed', content: { 'application/json': { schema: ClientView } } },
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        404: err('`not_found`: no registration'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      if (!(await removeFirmClient(services.db, p.organizationId)))
        throw new ApiError(404, 'not_found', 'no iManage client is registered for your organization');
      await recordAudit(services.db, {
        organizationId: p.organizationId,
        actor: { kind: 'user', userId: p.userId },
        action: 'imanage_client.remove',
        target: `organization:${p.organizationId}`,
      });
      return c.json(none, 200);
    },
  );
};
