import { X509Certificate } from 'node:crypto';
import type { Db } from '../../db/database.ts';
import type { SamlAttributeMapping } from '../../db/types.ts';

/**
 * An organization's SAML identity provider, as its administrator configured it: entity id, SSO and
 * SLO URLs, one or more signing certificates (several while the IdP rotates its key), the attribute
 * names of e-mail and name, and whether IdP-initiated logins are accepted (off by default).
 */

export interface SamlIdpConfig {
  organizationId: string;
  entityId: string;
  ssoUrl: string;
  sloUrl: string | null;
  /** PEM certificates. */
  certificates: string[];
  attributeMapping: SamlAttributeMapping;
  allowIdpInitiated: boolean;
  updatedAt: Date;
}

/** OneLogin's attribute names. */
export const DEFAULT_ATTRIBUTE_MAPPING: SamlAttributeMapping = {
  email: 'User.email',
  firstName: 'User.FirstName',
  lastName: 'User.LastName',
};

export class InvalidCertificateError extends Error {
  constructor(readonly index: number) {
    super(`certificates[${index}] is not a valid X.509 certificate (PEM or base64 DER)`);
  }
}

/** Accepts PEM or the bare base64 body OneLogin shows; returns normalized PEM. Throws when invalid. */
export function normalizeCertificate(input: string, index = 0): { pem: string; notAfter: Date; fingerprint256: string } {
  const body = input.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+=*$/.test(body)) throw new InvalidCertificateError(index);
  const pem = `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  try {
    const cert = new X509Certificate(pem);
    return { pem, notAfter: new Date(cert.validTo), fingerprint256: cert.fingerprint256 };
  } catch {
    throw new InvalidCertificateError(index);
  }
}

export async function loadSamlIdpConfig(db: Db, organizationId: string): Promise<SamlIdpConfig | null> {
  const row = await db.selectFrom('saml_configs').selectAll().where('organization_id', '=', organizationId).executeTakeFirst();
  if (!row) return null;
  return {
    organizationId: row.organization_id,
    entityId: row.entity_id,
    ssoUrl: row.sso_url,
    sloUrl: row.slo_url,
    certificates: row.certificates,
    attributeMapping: { ...DEFAULT_ATTRIBUTE_MAPPING, ...row.attribute_mapping },
    allowIdpInitiated: row.allow_idp_initiated,
    updatedAt: row.updated_at,
  };
}

/** Creates or replaces the configuration (certificates must already be normalized PEM). */
export async function saveSamlIdpConfig(
  db: Db,
  input: Omit<SamlIdpConfig, 'updatedAt' | 'attributeMapping'> & { attributeMapping?: Partial<SamlAttributeMapping> },
): Promise<SamlIdpConfig> {
  const values = {
    entity_id: input.entityId,
    sso_url: input.ssoUrl,
    slo_url: input.sloUrl,
    certificates: JSON.stringify(input.certificates),
    attribute_mapping: JSON.stringify({ ...DEFAULT_ATTRIBUTE_MAPPING, ...(input.attributeMapping ?? {}) }),
    allow_idp_initiated: input.allowIdpInitiated,
    updated_at: new Date(),
  };
  await db
    .insertInto('saml_configs')
    .values({ organization_id: input.organizationId, ...values })
    .onConflict((oc) => oc.column('organization_id').doUpdateSet(values))
    .execute();
  return (await loadSamlIdpConfig(db, input.organizationId))!;
}
