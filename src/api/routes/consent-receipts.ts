import { createRoute, z } from '@hono/zod-openapi';
import { connectorFor } from '../../../connectors/registry.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { connectionForPrincipal } from '../../connections/access.ts';
import { buildConsentReceipt, CONSENT_RECEIPT_JWS_TYPE } from '../../consent/receipt.ts';
import { consentVersion } from '../../consent/service.ts';
import { getSigningKey, signJws } from '../../transfers/signing.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { ConsentReceiptSchema, ConsentVersionParams } from '../schemas/consents.ts';
import { errorResponse as err } from '../schemas.ts';

/** `GET /v1/connections/{id}/consents/{version}/receipt`: a consent version's signed receipt. */
export const consentReceiptRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/connections/{id}/consents/{version}/receipt',
      operationId: 'getConsentReceipt',
      description:
        "A consent receipt with the Kantara Consent Receipt v1.1 fields, signed with the deployment's Ed25519 audit key (verify with `/.well-known/jwks.json`).",
      tags: ['Consent'],
      summary: 'A consent receipt (Kantara Consent Receipt v1.1 fields), signed with the deployment’s Ed25519 audit key',
      ...auth,
      request: { params: ConsentVersionParams },
      responses: {
        200: {
          description:
            'Receipt and its JWS: compact serialization, EdDSA, typ `consent-receipt+jws`, payload the RFC 8785 canonical JSON of `receipt`; verify with the JWK of `/.well-known/jwks.json`',
          content: { 'application/json': { schema: z.object({ receipt: ConsentReceiptSchema, jws: z.string() }) } },
        },
        401: err('Not signed in'),
        404: err('No such connection or version'),
      },
    }),
    async (c) => {
      const { id, version } = c.req.valid('param');
      const connection = await connectionForPrincipal(services.db, { principal: c.get('principal') as UserPrincipal, connectionId: id, access: 'read' });
      const consent = await consentVersion(services.db, id, version);
      if (!consent) throw new ApiError(404, 'not_found', 'no such consent version');
      const [org, granter] = await Promise.all([
        services.db.selectFrom('organizations').select(['id', 'name']).where('id', '=', connection.organization_id).executeTakeFirstOrThrow(),
        services.db.selectFrom('users').select(['id', 'email']).where('id', '=', consent.grantedBy).executeTakeFirstOrThrow(),
      ]);
      const receipt = buildConsentReceipt({
        consent,
        connection: {
          id: connection.id,
          platform: connection.platform,
          externalAccount: connection.external_account,
          displayName: connectorFor(connection.platform)?.manifest.displayName ?? connection.platform,
        },
        organization: org,
        grantedBy: granter,
        publicBaseUrl: services.config.PUBLIC_BASE_URL,
      });
      const jws = await signJws(getSigningKey(services.config), receipt, CONSENT_RECEIPT_JWS_TYPE);
      c.header('content-disposition', `attachment; filename="consent-receipt-${consent.id}.json"`);
      return c.json({ receipt, jws }, 200);
    },
  );
};
