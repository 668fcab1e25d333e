import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import canonicalize from 'canonicalize';
import { CompactSign, compactVerify, type JWK } from 'jose';
import { canonicalJson } from './canonical.ts';

/**
 * The deployment's Ed25519 audit key: it signs transfer-log checkpoints and (reused by the revocation
 * feature) revocation receipts. Source, in order:
 * - `AUDIT_SIGNING_KEY`: a PKCS#8 PEM private key, or the base64 of that PEM (required in production);
 * - otherwise (development, test, demo) a key generated once and kept in
 *   `DATA_DIR/keys/audit-signing-key.pem` with mode 0600, so signatures stay verifiable across restarts.
 *
 * Generate one for production with:
 *   openssl genpkey -algorithm ed25519 | base64 -w0
 */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM of the public key, to publish for third-party verification. */
  publicKeyPem: string;
  /** First 16 hex chars of SHA-256(SPKI DER): names the key in signatures. */
  keyId: string;
  /** The public key as a JWK (`kid` = keyId, `alg` EdDSA), for standard JOSE tools. */
  publicJwk: PublicJwk;
}

/** An Ed25519 public key as RFC 8037 describes it, named and restricted to signatures. */
export interface PublicJwk extends JWK {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** A JSON payload and its detached signature (format 1: base64 Ed25519 over `canonicalJson`; verify-only today). */
export interface SignedEnvelope<T> {
  payload: T;
  signature: { algorithm: 'Ed25519'; keyId: string; value: string };
}

export class SigningKeyError extends Error {
  readonly code = 'signing_key_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

const cache = new Map<string, SigningKey>();

/** Where the development key lives. */
export function devKeyPath(dataDir: string): string {
  return path.resolve(dataDir, 'keys', 'audit-signing-key.pem');
}

function fromPrivateKey(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SigningKeyError('AUDIT_SIGNING_KEY must be an Ed25519 private key');
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha256').update(der).digest('hex').slice(0, 16);
  const { x } = publicKey.export({ format: 'jwk' });
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: x!, kid: keyId, alg: 'EdDSA', use: 'sig' },
  };
}

function parseConfiguredKey(value: string): KeyObject {
  const text = value.includes('-----BEGIN') ? value : Buffer.from(value, 'base64').toString('utf8');
  try {
    if (text.includes('-----BEGIN')) return createPrivateKey({ key: text, format: 'pem' });
    return createPrivateKey({ key: Buffer.from(value, 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    throw new SigningKeyError('AUDIT_SIGNING_KEY is not a PKCS#8 Ed25519 private key (PEM, or base64 of the PEM)');
  }
}

function loadOrCreateDevKey(dataDir: string): KeyObject {
  const file = devKeyPath(dataDir);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    return createPrivateKey({ key: fs.readFileSync(file, 'utf8'), format: 'pem' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  try {
    // 'wx': two processes starting together must not overwrite each other's key.
    fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
    return privateKey;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return createPrivateKey({ key: fs.readFileSync(file, 'utf8'), format: 'pem' });
  }
}

/** The signing key of this deployment (memoised per key source). */
export function getSigningKey(config: { AUDIT_SIGNING_KEY?: string | undefined; DATA_DIR: string; NODE_ENV: string }): SigningKey {
  const source = config.AUDIT_SIGNING_KEY ? `env:${config.AUDIT_SIGNING_KEY}` : `file:${devKeyPath(config.DATA_DIR)}`;
  const hit = cache.get(source);
  if (hit) return hit;
  if (!config.AUDIT_SIGNING_KEY && config.NODE_ENV === 'production') {
    throw new SigningKeyError('AUDIT_SIGNING_KEY is required in production');
  }
  const key = fromPrivateKey(config.AUDIT_SIGNING_KEY ? parseConfiguredKey(config.AUDIT_SIGNING_KEY) : loadOrCreateDevKey(config.DATA_DIR));
  cache.set(source, key);
  return key;
}

/** Ed25519 signature (base64) of bytes. */
export function signBytes(key: SigningKey, data: string | Uint8Array): string {
  return sign(null, typeof data === 'string' ? Buffer.from(data) : data, key.privateKey).toString('base64');
}

/** Checks an Ed25519 signature (base64) of bytes; false on any malformed input. */
export function verifyBytes(publicKey: KeyObject | string, data: string | Uint8Array, signature: string): boolean {
  try {
    const pub = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
    return verify(null, typeof data === 'string' ? Buffer.from(data) : data, pub, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Signs the canonical JSON of a payload: format 1 of receipts and checkpoints, kept so that tests and
 * tools can make and check what older versions issued. New signatures are JWS ({@link signJws}).
 */
export function signJson<T>(key: SigningKey, payload: T): SignedEnvelope<T> {
  return { payload, signature: { algorithm: 'Ed25519', keyId: key.keyId, value: signBytes(key, canonicalJson(payload)) } };
}

/** Verifies an envelope made by `signJson` against a public key (KeyObject or SPKI PEM). */
export function verifyJson(publicKey: KeyObject | string, envelope: SignedEnvelope<unknown>): boolean {
  return envelope.signature?.algorithm === 'Ed25519' && verifyBytes(publicKey, canonicalJson(envelope.payload), envelope.signature.value);
}

/**
 * What a JWS says it is (its protected `typ` header): a checkpoint cannot pass for a receipt, nor one
 * kind of receipt for another.
 */
export type JwsType = 'transfer-log-checkpoint+jws' | 'revocation-receipt+jws' | 'consent-receipt+jws';

/**
 * The bytes a JWS signs for a JSON value: RFC 8785 (JCS) canonical JSON, from the `canonicalize`
 * package. Not {@link canonicalJson}: that one puts integer-like object keys first (JavaScript's own
 * property order) where RFC 8785 sorts every key by UTF-16 code units, and the transfer log's hashes
 * are fixed to it. Throws on what I-JSON cannot carry (NaN, Infinity, lone surrogates).
 */
export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('a JWS payload must be a JSON value');
  return text;
}

/**
 * Signs a JSON value as a JWS in compact serialization: protected header `{alg: EdDSA, kid, typ}`,
 * payload the RFC 8785 canonical JSON of the value. Any JOSE library verifies it with the published
 * JWK (`compactVerify` in jose), and the payload it returns is the signed document itself.
 */
export async function signJws(key: SigningKey, payload: unknown, typ: JwsType): Promise<string> {
  return new CompactSign(new TextEncoder().encode(jcs(payload))).setProtectedHeader({ alg: 'EdDSA', kid: key.keyId, typ }).sign(key.privateKey);
}

/** A JWS that verified: its key id and its payload, parsed. */
export interface VerifiedJws {
  kid: string | undefined;
  payload: unknown;
  /** The payload exactly as signed (RFC 8785 canonical JSON). */
  payloadText: string;
}

/**
 * Verifies a compact JWS made by {@link signJws}: EdDSA only, the expected `typ`, a JSON payload.
 * `null` on any failure (bad signature, other key, other type, malformed) — callers only need to
 * know whether to trust it.
 */
export async function verifyJws(publicKey: KeyObject | JWK | string, jws: string, typ: JwsType): Promise<VerifiedJws | null> {
  try {
    const pub = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
    const { payload, protectedHeader } = await compactVerify(jws, pub, { algorithms: ['EdDSA'] });
    if (protectedHeader.typ !== typ) return null;
    const payloadText = new TextDecoder('utf-8', { fatal: true }).decode(payload);
    return { kid: protectedHeader.kid, payload: JSON.parse(payloadText), payloadText };
  } catch {
    return null;
  }
}
