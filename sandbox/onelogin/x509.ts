import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

/**
 * A minimal DER encoder for one thing: a self-signed X.509 v3 certificate (RSA, SHA-256), the form
 * in which SAML identity providers publish their signing key. Node can parse certificates but not
 * make them, and the sandbox must not depend on an `openssl` binary.
 */

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const integer = (bytes: Buffer): Buffer => tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const nullValue = Buffer.from([0x05, 0x00]);
const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bitString = (bytes: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));

function objectId(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const chunk: number[] = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const COMMON_NAME = '2.5.4.3';

/** A self-signed certificate for `publicKey`, signed by `privateKey`, as PEM. */
export function selfSignedCertificate(params: { privateKey: KeyObject; publicKey: KeyObject; commonName: string; notBefore?: Date; notAfter?: Date }): string {
  const notBefore = params.notBefore ?? new Date(Date.now() - 24 * 3600 * 1000);
  const notAfter = params.notAfter ?? new Date(Date.now() + 5 * 365 * 24 * 3600 * 1000);
  const name = sequence(set(sequence(objectId(COMMON_NAME), utf8String(params.commonName))));
  const algorithm = sequence(objectId(SHA256_WITH_RSA), nullValue);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    params.publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, params.privateKey);
  const der = sequence(tbs, algorithm, bitString(signature));
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** An RSA-2048 key pair with a self-signed certificate, both PEM. */
export function generateSigningMaterial(commonName: string): { privateKeyPem: string; certificatePem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificatePem: selfSignedCertificate({ privateKey, publicKey, commonName }),
  };
}

/** The base64 body of a PEM certificate (what goes into `<ds:X509Certificate>`). */
export function certificateBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
