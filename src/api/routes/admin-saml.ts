import { createRoute, z } from '@hono/zod-openapi';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { configureSamlIdp, InsecureUrlError } from '../../auth/saml/configure.ts';
import { EntityIdInUseError, InvalidCertificateError, loadSamlIdpConfig, normalizeCertificate, type SamlIdpConfig } from '../../auth/saml/idp-config.ts';
import { samlSpUrls } from '../../auth/saml/service-provider.ts';
import { loadSignInPolicy } from '../../auth/sign-in-policy.ts';
import type { Config } from '../../config/load.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { errorResponse as err } from '../schemas.ts';
import { SignInPolicySchema } from './auth-sign-in-policy.ts';

const attributeName = z.string().trim().min(1).max(256);

const SamlConfigInput = z
  .object({
    entityId: z.string().trim().min(1).max(1024).describe("The IdP's entity id (OneLogin: https://app.onelogin.com/saml/metadata/<id>)"),
    ssoUrl: z.url().max(2048).describe('SAML 2.0 Endpoint (HTTP)'),
    sloUrl: z.url().max(2048).nullable().optional().describe('SLO Endpoint (HTTP-Redirect)'),
    certificates: z
      .array(z.string().min(1).max(20_000))
      .min(1)
      .max(5)
      .describe('PEM or base64 X.509 certificates; list the new one next to the old while the IdP rotates'),
    attributeMapping: z.object({ email: attributeName, firstName: attributeName, lastName: attributeName, name: attributeName }).partial().strict().optional(),
    allowIdpInitiated: z.boolean().default(false).describe('Accept logins started at the IdP (weaker: no request to bind the response to)'),
    jitProvisioning: z.boolean().optional(),
    defaultRole: z.enum(['member', 'admin']).optional(),
    linkByEmail: z.boolean().optional(),
  })
  .strict()
  .openapi('SamlConfigInput');

export const SamlConfigView = z
  .object({
    configured: z.boolean(),
    serviceProvider: z.object({ entityId: z.string(), acsUrl: z.string(), metadataUrl: z.string(), sloUrl: z.string(), loginUrl: z.string() }),
    identityProvider: z
      .object({
        entityId: z.string(),
        ssoUrl: z.string(),
        sloUrl: z.string().nullable(),
        certificates: z.array(z.object({ pem: z.string(), fingerprint256: z.string(), notAfter: z.string() })),
        attributeMapping: z.record(z.string(), z.string()),
        allowIdpInitiated: z.boolean(),
        updatedAt: z.string(),
      })
      .nullable(),
    policy: SignInPolicySchema,
  })
  .openapi('SamlConfig');

export function view(config: Config, organizationId: string, idp: SamlIdpConfig | null, policy: z.infer<typeof SignInPolicySchema>) {
  return {
    configured: idp !== null,
    serviceProvider: samlSpUrls(config, organizationId),
    identityProvider: idp
      ? {
          entityId: idp.entityId,
          ssoUrl: idp.ssoUrl,
          sloUrl: idp.sloUrl,
          certificates: idp.certificates.map((pem) => {
            const c = normalizeCertificate(pem);
            return { pem: c.pem, fingerprint256: c.fingerprint256, notAfter: c.notAfter.toISOString() };
          }),
          attributeMapping: { ...idp.attributeMapping },
          allowIdpInitiated: idp.allowIdpInitiated,
          updatedAt: idp.updatedAt.toISOString(),
        }
      : null,
    policy,
  };
}

/** `GET/PUT /v1/admin/saml`: the organization's SAML identity provider (admins only). */
export const adminSamlRoutes: RouteModule = (app, services) => {
  const guard = [sessionAuth(services.sessions), requireAdmin()] as const;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/saml',
      operationId: 'getSamlSettings',
      description:
        'Organization administrators only. The service-provider URLs to give the identity provider, and the identity provider this organization configured (certificates as fingerprints).',
      tags: ['Sign-in (admin)'],
      summary: 'SAML settings: our SP URLs for the IdP, and the configured IdP',
      middleware: [...guard],
      security: [{ session: [] }],
      responses: {
        200: { description: 'Settings', content: { 'application/json': { schema: SamlConfigView } } },
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const [idp, policy] = await Promise.all([loadSamlIdpConfig(services.db, p.organizationId), loadSignInPolicy(services.db, p.organizationId)]);
      return c.json(view(services.config, p.organizationId, idp, policy!), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/admin/saml',
      operationId: 'putSamlSettings',
      description:
        'Organization administrators only. Replaces the SAML identity-provider configuration; the entity id must not be used by another organization.',
      tags: ['Sign-in (admin)'],
      summary: 'Configure the SAML identity provider (replaces the previous configuration)',
      middleware: [...guard],
      security: [{ session: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: SamlConfigInput } } } },
      responses: {
        200: { description: 'Saved', content: { 'application/json': { schema: SamlConfigView } } },
        400: err('`validation_failed`, `invalid_certificate`, `insecure_url`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        409: err('`idp_entity_id_in_use`: another organization uses this entity id'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const body = c.req.valid('json');
      let saved: Awaited<ReturnType<typeof configureSamlIdp>>;
      try {
        saved = await configureSamlIdp(services.db, {
          organizationId: p.organizationId,
          actorUserId: p.userId,
          production: services.config.NODE_ENV === 'production',
          idp: {
            entityId: body.entityId,
            ssoUrl: body.ssoUrl,
            sloUrl: body.sloUrl ?? null,
            certificates: body.certificates,
            allowIdpInitiated: body.allowIdpInitiated,
            ...(body.attributeMapping ? { attributeMapping: body.attributeMapping } : {}),
          },
          policyChange: { jitProvisioning: body.jitProvisioning, defaultRole: body.defaultRole, linkByEmail: body.linkByEmail },
          source: 'api',
          ip: clientIp(c),
          userAgent: userAgent(c),
        });
      } catch (e) {
        if (e instanceof InsecureUrlError) throw new ApiError(400, 'insecure_url', e.message);
        if (e instanceof InvalidCertificateError) throw new ApiError(400, 'invalid_certificate', e.message, { index: e.index });
        if (e instanceof EntityIdInUseError) throw new ApiError(409, e.code, e.message);
        throw e;
      }
      const { idp, policy } = saved;
      return c.json(view(services.config, p.organizationId, idp, policy), 200);
    },
  );
};
