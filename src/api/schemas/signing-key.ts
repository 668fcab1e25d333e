import { z } from '@hono/zod-openapi';

/** The Ed25519 signing key as a JWK (RFC 8037), as every route that publishes it describes it. */
export const SigningJwkSchema = z
  .object({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: z.string().openapi({ description: 'the public key, base64url' }),
    kid: z.string().openapi({ description: 'key id: the first 16 hex characters of SHA-256 of the SPKI DER; the `kid` of every JWS it makes' }),
    alg: z.literal('EdDSA'),
    use: z.literal('sig'),
  })
  .openapi('SigningJwk');
