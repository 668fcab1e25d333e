import { X509Certificate } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { SamlAttributeMapping } from '../../db/types.ts';
import { CasebridgeError } from '../../errors/index.ts';

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

export class InvalidCertificateError extends CasebridgeError {
  constructor(readonly index: number) {
    super('invalid_certificate', `certificates[${index}] is not a valid X.509 certificate (PEM or base64 DER)`, { index });
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

/** The organization's IdP configuration, or null when none is configured. */
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

/** Another organization already configured this IdP entity id. */
export class EntityIdInUseError extends CasebridgeError {
  constructor() {
    super('idp_entity_id_in_use', 'another organization already uses this identity provider entity id; each organization needs its own IdP app');
  }
}

/**
 * Creates or replaces the configuration (certificates must already be normalized PEM). Refuses
 * (EntityIdInUseError) an entity id another organization uses: an entity id is any string an
 * administrator types, so it must not let one firm stand in for another's IdP. The table is locked
 * for the check and the write, so two organizations racing for one entity id cannot both pass.
 */
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
  await db.transaction().execute(async (tx) => {
    // Blocks other writers of saml_configs (not readers) until commit; configuration changes are rare.
    await sql`LOCK TABLE saml_configs IN SHARE ROW EXCLUSIVE MODE`.execute(tx);
    const other = await tx
      .selectFrom('saml_configs')
      .select('organization_id')
      .where('entity_id', '=', input.entityId)
      .where('organization_id', '!=', input.organizationId)
      .executeTakeFirst();
    if (other) throw new EntityIdInUseError();
    await tx
      .insertInto('saml_configs')
      .values({ organization_id: input.organizationId, ...values })
      .onConflict((oc) => oc.column('organization_id').doUpdateSet(values))
      .execute();
  });
  return (await loadSamlIdpConfig(db, input.organizationId))!;
}
