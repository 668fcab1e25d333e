import { createRoute, z } from '@hono/zod-openapi';
import { recordAudit } from '../../audit/audit-log.ts';
import { approveGoogleDomain, CLAIM_CURSOR, type GoogleDomainClaim, googleDomainClaimsPage, releaseGoogleDomain } from '../../auth/google-domains.ts';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import { recordSecurityEvent } from '../../security/events.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { superAdminAuth } from '../middleware/super-admin-auth.ts';
import { decodeListCursor, pageOf, pageQuery } from '../pagination.ts';
import { errorResponse as err } from '../schemas.ts';
import { GoogleDomainName } from './auth-sign-in-policy.ts';

const ClaimSchema = z
  .object({
    domain: z.string(),
    organizationId: z.uuid(),
    organizationName: z.string(),
    status: z.enum(['pending', 'verified']),
    createdAt: z.string(),
    verifiedAt: z.string().nullable(),
  })
  .openapi('GoogleDomainClaim');

const view = (c: GoogleDomainClaim) => ({ ...c, createdAt: c.createdAt.toISOString(), verifiedAt: c.verifiedAt?.toISOString() ?? null });

/**
 * The deployment's super administrator verifies Google Workspace domain claims
 * (`Authorization: Bearer $SUPER_ADMIN_TOKEN`): a domain an organization admits routes sign-ins
 * (links or provisions) only after approval here, once the super admin has checked out of band that
 * the firm owns it. Refusing a claim frees the domain.
 */
export const superAdminDomainRoutes: RouteModule = (app, services) => {
  const guard = [superAdminAuth()] as const;
  const params = z.object({ domain: GoogleDomainName });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/super-admin/domains',
      operationId: 'listDomainClaims',
      description:
        'Deployment super administrator only (`Authorization: Bearer <SUPER_ADMIN_TOKEN>`). Google Workspace domain claims of every organization, oldest first, paged with `cursor`.',
      tags: ['Sign-in (super admin)'],
      summary: 'Google Workspace domain claims (filter `status=pending` for those awaiting approval)',
      middleware: [...guard],
      security: [{ superAdmin: [] }],
      request: { query: pageQuery().extend({ status: z.enum(['pending', 'verified']).optional() }) },
      responses: {
        200: { description: 'A page of claims, oldest first', content: { 'application/json': { schema: pageOf(ClaimSchema, 'GoogleDomainClaimPage') } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('`invalid_super_admin_token`'),
        403: err('`super_admin_disabled`'),
      },
    }),
    async (c) => {
      const { status, limit, cursor } = c.req.valid('query');
      const page = await googleDomainClaimsPage(services.db, { status, limit, cursor: decodeListCursor(cursor, CLAIM_CURSOR) });
      return c.json({ items: page.items.map(view), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/super-admin/domains/{domain}/approve',
      operationId: 'approveDomainClaim',
      description:
        "Deployment super administrator only. Verifies an organization's claim, after which sign-ins from that domain link to and provision in that organization.",
      tags: ['Sign-in (super admin)'],
      summary: "Verify an organization's claim on a Google Workspace domain (it then links and provisions)",
      middleware: [...guard],
      security: [{ superAdmin: [] }],
      request: { params },
      responses: {
        200: { description: 'Verified (also when it already was)', content: { 'application/json': { schema: z.object({ domain: ClaimSchema }) } } },
        400: err('`validation_failed`'),
        401: err('`invalid_super_admin_token`'),
        403: err('`super_admin_disabled`'),
        404: err('`not_found`: no organization claims the domain'),
      },
    }),
    async (c) => {
      const { domain } = c.req.valid('param');
      const result = await approveGoogleDomain(services.db, domain);
      if (!result) throw new ApiError(404, 'not_found', 'no organization claims this domain');
      if (result.changed) {
        const { organizationId } = result.claim;
        await recordAudit(services.db, { organizationId, actor: { kind: 'super_admin' }, action: 'google_domain.approve', target: `domain:${domain}` });
        await recordSecurityEvent(services.db, {
          organizationId,
          kind: 'google_domain_verified',
          outcome: 'success',
          method: 'super_admin',
          ip: clientIp(c),
          userAgent: userAgent(c),
          details: { domain },
        });
      }
      return c.json({ domain: view(result.claim) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/super-admin/domains/{domain}',
      operationId: 'refuseDomainClaim',
      description:
        "Deployment super administrator only. Refuses a pending claim or withdraws an approved one; the domain leaves the organization's admitted domains.",
      tags: ['Sign-in (super admin)'],
      summary: "Refuse or withdraw an organization's domain claim (the domain leaves its admitted domains)",
      middleware: [...guard],
      security: [{ superAdmin: [] }],
      request: { params },
      responses: {
        204: { description: 'Released' },
        400: err('`validation_failed`'),
        401: err('`invalid_super_admin_token`'),
        403: err('`super_admin_disabled`'),
        404: err('`not_found`'),
      },
    }),
    async (c) => {
      const { domain } = c.req.valid('param');
      const released = await releaseGoogleDomain(services.db, domain);
      if (!released) throw new ApiError(404, 'not_found', 'no organization claims this domain');
      await recordAudit(services.db, {
        organizationId: released.organizationId,
        actor: { kind: 'super_admin' },
        action: 'google_domain.release',
        target: `domain:${domain}`,
        details: { previousStatus: released.status },
      });
      await recordSecurityEvent(services.db, {
        organizationId: released.organizationId,
        kind: 'google_domain_released',
        outcome: 'success',
        method: 'super_admin',
        ip: clientIp(c),
        userAgent: userAgent(c),
        details: { domain, previousStatus: released.status },
      });
      return c.body(null, 204);
    },
  );
};
