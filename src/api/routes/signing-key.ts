import { createRoute, z } from '@hono/zod-openapi';
import { getSigningKey } from '../../transfers/signing.ts';
import type { RouteModule } from '../env.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { SigningJwkSchema } from '../schemas/signing-key.ts';
import { errorResponse as err } from '../schemas.ts';

/** The public key that signs checkpoints and receipts: for signed-in users (PEM and JWK) and, public, as a JWK Set. */
export const signingKeyRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/transfers/signing-key',
      operationId: 'getSigningKey',
      description: 'The Ed25519 public key that signs transfer-log checkpoints and consent and revocation receipts, as PEM and JWK.',
      tags: ['Transfers'],
      summary: 'The Ed25519 public key that signs transfer-log checkpoints, consent and revocation receipts',
      ...auth,
      responses: {
        200: {
          description: 'The key as a JWK (for JOSE tools: checkpoints and receipts are JWS), as an SPKI PEM, and its id',
          content: {
            'application/json': {
              schema: z.object({ algorithm: z.literal('Ed25519'), keyId: z.string(), publicKeyPem: z.string(), jwk: SigningJwkSchema }),
            },
          },
        },
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const key = getSigningKey(services.config);
      return c.json({ algorithm: 'Ed25519' as const, keyId: key.keyId, publicKeyPem: key.publicKeyPem, jwk: key.publicJwk }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/.well-known/jwks.json',
      operationId: 'getJwks',
      description: 'The public signing key as a JWK Set, for auditors verifying receipts and checkpoints with standard tools. No sign-in: it is public.',
      tags: ['Transfers'],
      summary: 'The public key that signs checkpoints and receipts, as a JWK Set (no sign-in: it is public)',
      responses: {
        200: {
          description: 'JWK Set with the current signing key',
          content: { 'application/json': { schema: z.object({ keys: z.array(SigningJwkSchema) }) } },
        },
        '4XX': err('A request this route cannot read (for example `payload_too_large`)'),
      },
    }),
    async (c) => {
      c.header('cache-control', 'public, max-age=300');
      return c.json({ keys: [getSigningKey(services.config).publicJwk] }, 200);
    },
  );
};
