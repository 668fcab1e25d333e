import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { SandboxAccount } from '../state.ts';

/**
 * ID tokens of the Google emulator: RS256 JWTs signed with a key generated when the sandbox starts
 * (its public half is the only key in the JWKS), plus the test-only overrides that make the next
 * token wrong in one precise way, so OpenID Connect attack tests run through the real flow.
 */

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function generateSigningKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

/** The JWKS entry of a signing key. */
export function publicJwk(key: SigningKey): Record<string, unknown> {
  return { ...key.publicKey.export({ format: 'jwk' }), kid: key.kid, alg: 'RS256', use: 'sig' };
}

/**
 * How the next ID token(s) should be broken. Each field changes one thing; `times` (default 1) says
 * how many tokens it applies to.
 */
export interface IdTokenOverride {
  /** Replace the nonce (the relying party must reject it). */
  nonce?: string;
  /** Replace the audience. */
  aud?: string;
  /** Replace the issuer. */
  iss?: string;
  /** Issue a token that expired an hour ago. */
  expired?: boolean;
  /** Shift `iat` (and `exp` with it) by this many seconds, e.g. 600: issued ten minutes in the future. */
  issuedAtOffsetSeconds?: number;
  /** `none`: an unsigned token (`alg: none`). */
  alg?: 'none';
  /** Sign with a key that is not in the JWKS (kid `sandbox-unknown-key` unless `kid` is given). */
  unknownKey?: boolean;
  /** The `kid` header to send (with `unknownKey`, e.g. the JWKS kid, to test a key mismatch). */
  kid?: string;
  emailVerified?: boolean;
  /** Replace `hd` (null removes it). */
  hd?: string | null;
  /** Extra or replaced claims. */
  claims?: Record<string, unknown>;
  times?: number;
}

export interface IdTokenInput {
  issuer: string;
  clientId: string;
  account: SandboxAccount;
  nonce?: string;
  /** When the user authenticated (epoch seconds). */
  authTime?: number;
  scope: string;
}

/** The claims Google puts in an ID token for this account and scope. */
export function idTokenClaims(input: IdTokenInput, nowSeconds: number): Record<string, unknown> {
  const { account, scope } = input;
  const scopes = new Set(scope.split(/\s+/));
  const claims: Record<string, unknown> = {
    iss: input.issuer,
    azp: input.clientId,
    aud: input.clientId,
    sub: account.sub,
    iat: nowSeconds,
    exp: nowSeconds + 3600,
  };
  if (account.hd) claims.hd = account.hd;
  if (scopes.has('email')) {
    claims.email = account.email;
    claims.email_verified = account.emailVerified ?? true;
  }
  if (scopes.has('profile')) {
    claims.name = account.name;
    const [given, ...family] = account.name.split(' ');
    claims.given_name = given;
    if (family.length) claims.family_name = family.join(' ');
    claims.picture = account.picture ?? `https://lh3.googleusercontent.example/a/${account.sub}=s96-c`;
  }
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  if (input.authTime !== undefined) claims.auth_time = input.authTime;
  return claims;
}

/** Applies one override to the claims (pure). */
export function applyOverride(claims: Record<string, unknown>, o: IdTokenOverride, nowSeconds: number): Record<string, unknown> {
  const out = { ...claims };
  if (o.nonce !== undefined) out.nonce = o.nonce;
  if (o.aud !== undefined) {
    out.aud = o.aud;
    out.azp = o.aud;
  }
  if (o.iss !== undefined) out.iss = o.iss;
  if (o.expired) {
    out.iat = nowSeconds - 7200;
    out.exp = nowSeconds - 3600;
  }
  if (o.issuedAtOffsetSeconds !== undefined) {
    out.iat = nowSeconds + o.issuedAtOffsetSeconds;
    out.exp = nowSeconds + o.issuedAtOffsetSeconds + 3600;
  }
  if (o.emailVerified !== undefined) out.email_verified = o.emailVerified;
  if (o.hd === null) delete out.hd;
  else if (o.hd !== undefined) out.hd = o.hd;
  return { ...out, ...(o.claims ?? {}) };
}

/** Signs the claims as Google would (RS256, kid), or as the override breaks it. */
export async function signIdToken(params: {
  claims: Record<string, unknown>;
  key: SigningKey;
  unknownKey: () => SigningKey;
  override?: IdTokenOverride;
}): Promise<string> {
  const claims = Object.fromEntries(Object.entries(params.claims).filter(([, v]) => v !== undefined));
  const o = params.override;
  if (o?.alg === 'none') {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
  }
  const key = o?.unknownKey ? params.unknownKey() : params.key;
  const kid = o?.kid ?? key.kid;
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key.privateKey);
}

/** A random opaque value in Google's style (authorization codes). */
export function googleCode(): string {
  return `4/0A${randomBytes(30).toString('base64url')}`;
}
