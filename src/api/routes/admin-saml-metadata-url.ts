import { createRoute, z } from '@hono/zod-openapi';
import { clientIp, userAgent } from '../../auth/login-flow.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { configureSamlIdpFromMetadataUrl, InsecureUrlError } from '../../auth/saml/configure.ts';
import { EntityIdInUseError, InvalidCertificateError } from '../../auth/saml/idp-config.ts';
import { IdpMetadataError, metadataErrorStatus } from '../../auth/saml/idp-metadata.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { errorResponse as err } from '../schemas.ts';
import { SamlConfigView, view } from './admin-saml.ts';

const SamlMetadataUrlInput = z
  .object({
    url: z.string().trim().min(1).max(2048).describe("The IdP's SAML metadata URL (https; OneLogin: https://app.onelogin.com/saml/metadata/<id>)"),
    allowIdpInitiated: z.boolean().default(false).describe('Accept logins started at the IdP (weaker: no request to bind the response to)'),
    jitProvisioning: z.boolean().optional(),
    defaultRole: z.enum(['member', 'admin']).optional(),
    linkByEmail: z.boolean().optional(),
  })
  .strict()
  .openapi('SamlMetadataUrlInput');

/** `POST /v1/admin/saml/metadata-url`: configure the SAML IdP from its metadata URL (admins only). */
export const adminSamlMetadataUrlRoutes: RouteModule = (app, services) => {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/saml/metadata-url',
      operationId: 'importSamlMetadataUrl',
      description:
        "Organization administrators only. Fetches the IdP's metadata from `url` and replaces the SAML identity-provider configuration with it. " +
        'The fetch is made from inside the service: https only (plain http only to a loopback host outside production, when SAML_METADATA_ALLOW_PRIVATE_HOSTS); ' +
        'the host must resolve to public addresses (unless SAML_METADATA_ALLOW_PRIVATE_HOSTS); no redirects; 10 s; an XML content type; 1 MiB at most. ' +
        'Errors never quote what was fetched.',
      tags: ['Sign-in (admin)'],
      summary: 'Configure the SAML identity provider from its metadata URL',
      middleware: [sessionAuth(services.sessions), requireAdmin()],
      security: [{ session: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: SamlMetadataUrlInput } } } },
      responses: {
        200: { description: 'Saved', content: { 'application/json': { schema: SamlConfigView } } },
        400: err('`validation_failed`, `metadata_url_refused` (scheme, credentials, private address), `invalid_certificate`, `insecure_url`'),
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        409: err('`idp_entity_id_in_use`: another organization uses this entity id'),
        413: err('`metadata_too_large`'),
        422: err('`metadata_fetch_failed` (unreachable, timeout, non-2xx, redirect), `metadata_invalid` (not XML, not usable SAML metadata)'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const body = c.req.valid('json');
      try {
        const { idp, policy } = await configureSamlIdpFromMetadataUrl(services.db, {
          organizationId: p.organizationId,
          actorUserId: p.userId,
          production: services.config.NODE_ENV === 'production',
          url: body.url,
          allowPrivate: services.config.SAML_METADATA_ALLOW_PRIVATE_HOSTS,
          allowIdpInitiated: body.allowIdpInitiated,
          policyChange: { jitProvisioning: body.jitProvisioning, defaultRole: body.defaultRole, linkByEmail: body.linkByEmail },
          ip: clientIp(c),
          userAgent: userAgent(c),
        });
        return c.json(view(services.config, p.organizationId, idp, policy), 200);
      } catch (e) {
        if (e instanceof IdpMetadataError) throw new ApiError(metadataErrorStatus(e.code), e.code, e.message);
        if (e instanceof InsecureUrlError) throw new ApiError(400, 'insecure_url', e.message);
        if (e instanceof InvalidCertificateError) throw new ApiError(400, 'invalid_certificate', 'a signing certificate in the metadata is not valid');
        if (e instanceof EntityIdInUseError) throw new ApiError(409, e.code, e.message);
        throw e;
      }
    },
  );
};
