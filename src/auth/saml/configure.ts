import type { Db } from '../../db/database.ts';
import type { SamlAttributeMapping } from '../../db/types.ts';
import { CasebridgeError } from '../../errors/index.ts';
import { recordSecurityEvent } from '../../security/events.ts';
import { loadSignInPolicy, type SignInPolicy, updateSignInPolicy } from '../sign-in-policy.ts';
import { normalizeCertificate, type SamlIdpConfig, saveSamlIdpConfig } from './idp-config.ts';
import { fetchIdpMetadata, parseIdpMetadata } from './idp-metadata.ts';

/** An IdP URL that is not https:// where https is required (production). */
export class InsecureUrlError extends CasebridgeError {
  constructor(readonly field: 'ssoUrl' | 'sloUrl') {
    super('insecure_url', `${field} must use https://`, { field });
  }
}

/** What an administrator gives to configure the organization's SAML identity provider. */
export interface SamlIdpInput {
  entityId: string;
  ssoUrl: string;
  sloUrl: string | null;
  /** PEM or bare base64 certificates, normalized here (InvalidCertificateError names the bad one). */
  certificates: string[];
  allowIdpInitiated: boolean;
  attributeMapping?: Partial<SamlAttributeMapping>;
}

/**
 * An administrator (or the deployment's operator) configures (replaces) the organization's SAML
 * identity provider: https only in production, certificates normalized, the entity id unique across
 * organizations (EntityIdInUseError), the sign-in policy's SAML options changed with it, and a
 * `saml_config_updated` security event of one shape whoever calls. The API (`PUT /v1/admin/saml`),
 * the admin page (metadata file) and the command line (`casebridge org saml set`) all call this.
 */
export async function configureSamlIdp(
  db: Db,
  params: {
    organizationId: string;
    /** The administrator acting; null for the operator at the command line. */
    actorUserId: string | null;
    /** How the change was made, for the event: an administrator's (API, page) or the command line's. */
    method?: 'admin' | 'command_line';
    production: boolean;
    idp: SamlIdpInput;
    policyChange?: Partial<Pick<SignInPolicy, 'jitProvisioning' | 'defaultRole' | 'linkByEmail'>>;
    /** Where the settings came from, for the event. */
    source: 'api' | 'metadata_file' | 'metadata_url';
    ip: string | null;
    userAgent: string | null;
  },
): Promise<{ idp: SamlIdpConfig; policy: SignInPolicy }> {
  const { idp: input, organizationId } = params;
  if (params.production) {
    if (!input.ssoUrl.startsWith('https://')) throw new InsecureUrlError('ssoUrl');
    if (input.sloUrl && !input.sloUrl.startsWith('https://')) throw new InsecureUrlError('sloUrl');
  }
  const certificates = input.certificates.map((cert, i) => normalizeCertificate(cert, i).pem);
  const idp = await saveSamlIdpConfig(db, {
    organizationId,
    entityId: input.entityId,
    ssoUrl: input.ssoUrl,
    sloUrl: input.sloUrl,
    certificates,
    allowIdpInitiated: input.allowIdpInitiated,
    ...(input.attributeMapping ? { attributeMapping: input.attributeMapping } : {}),
  });
  const policyChange = Object.fromEntries(Object.entries(params.policyChange ?? {}).filter(([, v]) => v !== undefined));
  const policy = Object.keys(policyChange).length ? await updateSignInPolicy(db, organizationId, policyChange) : (await loadSignInPolicy(db, organizationId))!;
  await recordSecurityEvent(db, {
    organizationId,
    actorUserId: params.actorUserId,
    kind: 'saml_config_updated',
    outcome: 'success',
    method: params.method ?? 'admin',
    ip: params.ip,
    userAgent: params.userAgent,
    details: {
      entityId: idp.entityId,
      certificateFingerprints: certificates.map((pem) => normalizeCertificate(pem).fingerprint256),
      allowIdpInitiated: idp.allowIdpInitiated,
      policyChange,
      source: params.source,
    },
  });
  return { idp, policy };
}

/**
 * An administrator configures the IdP from its metadata URL (the admin page and
 * `POST /v1/admin/saml/metadata-url`): fetched under the SSRF rules of `fetchIdpMetadata`
 * (private hosts only when the deployment allows them), parsed, then saved as `configureSamlIdp`
 * does, with `source: 'metadata_url'` on the event. IdpMetadataError says why a URL was not used.
 */
export async function configureSamlIdpFromMetadataUrl(
  db: Db,
  params: Omit<Parameters<typeof configureSamlIdp>[1], 'idp' | 'source'> & { url: string; allowPrivate: boolean; allowIdpInitiated: boolean },
): Promise<{ idp: SamlIdpConfig; policy: SignInPolicy }> {
  const { url, allowPrivate, allowIdpInitiated, ...rest } = params;
  const metadata = parseIdpMetadata(await fetchIdpMetadata(url, { allowPrivate, production: params.production }));
  return configureSamlIdp(db, { ...rest, idp: { ...metadata, allowIdpInitiated }, source: 'metadata_url' });
}
