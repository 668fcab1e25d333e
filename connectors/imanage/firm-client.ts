import type { Config } from '../../src/config/load.ts';
import type { OAuthClient } from '../../src/connections/oauth-types.ts';
import { open, parseKeyring, seal } from '../../src/connections/token-vault.ts';
import type { Db } from '../../src/db/database.ts';

/**
 * The OAuth client a firm's iManage administrator registered for Casebridge (client id and
 * secret), one per organization. The secret is sealed with the token vault's keyring (AES-256-GCM)
 * with the organization id in the additional data, so a row copied to another organization does not
 * open; `casebridge keys rotate` does not touch it (it is re-sealed whenever the admin saves it
 * again). The secret is only ever read to call the firm's token endpoint: never logged, never
 * answered.
 */

const aad = (organizationId: string) => `imanage-client:${organizationId}`;

export interface FirmClientView {
  clientId: string;
  /** Always true for a stored registration: the secret itself is never shown. */
  secretSet: true;
  updatedAt: string;
}

export async function loadFirmClient(deps: { db: Db; config: Config }, organizationId: string): Promise<OAuthClient | null> {
  const row = await deps.db
    .selectFrom('imanage_firm_clients')
    .select(['client_id', 'secret_key_id', 'secret_ciphertext'])
    .where('organization_id', '=', organizationId)
    .executeTakeFirst();
  if (!row) return null;
  const clientSecret = open(
    parseKeyring(deps.config.TOKEN_ENCRYPTION_KEYS),
    { keyId: row.secret_key_id, ciphertext: row.secret_ciphertext },
    aad(organizationId),
  );
  return { clientId: row.client_id, clientSecret };
}

export async function viewFirmClient(db: Db, organizationId: string): Promise<FirmClientView | null> {
  const row = await db.selectFrom('imanage_firm_clients').select(['client_id', 'updated_at']).where('organization_id', '=', organizationId).executeTakeFirst();
  return row ? { clientId: row.client_id, secretSet: true, updatedAt: new Date(row.updated_at).toISOString() } : null;
}

export async function saveFirmClient(
  deps: { db: Db; config: Config },
  params: { organizationId: string; clientId: string; clientSecret: string; userId: string },
): Promise<FirmClientView> {
  const sealed = seal(parseKeyring(deps.config.TOKEN_ENCRYPTION_KEYS), params.clientSecret, aad(params.organizationId));
  const values = {
    client_id: params.clientId,
    secret_key_id: sealed.keyId,
    secret_ciphertext: sealed.ciphertext,
    updated_by: params.userId,
    updated_at: new Date(),
  };
  await deps.db
    .insertInto('imanage_firm_clients')
    .values({ organization_id: params.organizationId, ...values })
    .onConflict((oc) => oc.column('organization_id').doUpdateSet(values))
    .execute();
  return (await viewFirmClient(deps.db, params.organizationId))!;
}

export async function removeFirmClient(db: Db, organizationId: string): Promise<boolean> {
  const r = await db.deleteFrom('imanage_firm_clients').where('organization_id', '=', organizationId).executeTakeFirst();
  return Number(r.numDeletedRows ?? 0) > 0;
}
