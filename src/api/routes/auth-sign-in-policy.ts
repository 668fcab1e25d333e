import { createRoute, z } from '@hono/zod-openapi';
import { DomainClaimedError, googleDomainClaimsOf } from '../../auth/google-domains.ts';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { changeSignInPolicy, loadSignInPolicy } from '../../auth/sign-in-policy.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { errorResponse as err } from '../schemas.ts';

/** A domain name, lower-cased (the form claims are keyed by). */
export const GoogleDomainName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'a domain name such as example.com');

/** The policy's domains with the state of their claims (read-only). */
const GoogleDomainsSchema = z
  .array(z.object({ domain: z.string(), status: z.enum(['pending', 'verified']) }))
  .describe('Claims of the admitted domains: `pending` until the super administrator verifies them; only `verified` ones link or provision');

export const SignInPolicySchema = z
  .object({
    allowedGoogleDomains: z
      .array(GoogleDomainName)
      .max(50)
      .describe(
        "Google Workspace domains (`hd`) admitted; empty = any verified Google account of a known user. Admitting a domain claims it: it links or provisions accounts only once the deployment's super administrator has verified the claim",
      ),
    jitProvisioning: z.boolean().describe('Create users on their first sign-in'),
    defaultRole: z.enum(['member', 'admin']).describe('Role of users created just in time'),
    linkByEmail: z.boolean().describe('Link a new identity to the existing user with the same verified e-mail'),
  })
  .openapi('SignInPolicy');

const PolicyView = z.object({ policy: SignInPolicySchema, googleDomains: GoogleDomainsSchema });

/** `GET/PATCH /v1/admin/sign-in-policy`: the organization's sign-in policy (admins only). */
export const signInPolicyRoutes: RouteModule = (app, services) => {
  const guard = [sessionAuth(services.sessions), requireAdmin()] as const;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/sign-in-policy',
      operationId: 'getSignInPolicy',
      description: 'Organization administrators only. Which sign-in methods the organization accepts and its session lifetimes.',
      tags: ['Sign-in (admin)'],
      summary: "The organization's sign-in policy",
      middleware: [...guard],
      security: [{ session: [] }],
      responses: {
        200: { description: 'Policy', content: { 'application/json': { schema: PolicyView } } },
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const policy = (await loadSignInPolicy(services.db, p.organizationId))!;
      return c.json({ policy, googleDomains: await googleDomainClaimsOf(services.db, p.organizationId) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/admin/sign-in-policy',
      operationId: 'updateSignInPolicy',
      description: 'Organization administrators only. Changes the fields given and keeps the others.',
      tags: ['Sign-in (admin)'],
      summary: 'Change the sign-in policy (fields not given stay as they are)',
      middleware: [...guard],
      security: [{ session: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: SignInPolicySchema.partial().strict() } } } },
      responses: {
        200: { description: 'Policy', content: { 'application/json': { schema: PolicyView } } },
        400: err('`validation_failed`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        409: err('`domain_claimed`: another organization holds one of the domains'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const change = c.req.valid('json');
      let policy: Awaited<ReturnType<typeof changeSignInPolicy>>;
      try {
        policy = await changeSignInPolicy(services.db, {
          organizationId: p.organizationId,
          actorUserId: p.userId,
          change,
          ip: clientIp(c),
          userAgent: userAgent(c),
        });
      } catch (e) {
        if (e instanceof DomainClaimedError) throw new ApiError(409, e.code, e.message, { domain: e.domain });
        throw e;
      }
      return c.json({ policy, googleDomains: await googleDomainClaimsOf(services.db, p.organizationId) }, 200);
    },
  );
};
