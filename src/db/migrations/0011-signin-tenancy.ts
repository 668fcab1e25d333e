import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Sign-in across tenants:
 * - identities are unique per organization: (organization, provider, issuer, subject). A SAML
 *   identity belongs to the organization whose IdP configuration verified it, so another firm that
 *   types the same IdP entity id cannot take a NameID away from its owner (and a Google account may
 *   be linked in several firms, each chosen by its own sign-in link);
 * - an administrator can unlink an identity; its login records stay (identity_id becomes null);
 * - Google Workspace domains are claimed by at most one organization and only a verified claim
 *   routes (links or provisions) sign-ins of that domain. Domains already admitted by an
 *   organization become pending claims (the first organization to have admitted one keeps it),
 *   waiting for the deployment's super administrator to approve them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE identities DROP CONSTRAINT identities_provider_issuer_subject_key;
    ALTER TABLE identities ADD CONSTRAINT identities_org_provider_issuer_subject_key UNIQUE (organization_id, provider, issuer, subject);
    CREATE INDEX identities_provider_subject ON identities (provider, issuer, subject);

    -- Which organization a Google Workspace domain (the ID token's hd) belongs to. Lower case, so
    -- the primary key makes a domain unique case-insensitively.
    CREATE TABLE google_domains (
      domain text PRIMARY KEY CHECK (domain = lower(domain)),
      organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
      created_at timestamptz NOT NULL DEFAULT now(),
      verified_at timestamptz
    );
    CREATE INDEX google_domains_org ON google_domains (organization_id);

    INSERT INTO google_domains (domain, organization_id, status, created_at)
    SELECT DISTINCT ON (lower(d.value)) lower(d.value), o.id, 'pending', now()
    FROM organizations o
    CROSS JOIN LATERAL jsonb_array_elements_text(
      CASE WHEN jsonb_typeof(o.settings -> 'allowedGoogleDomains') = 'array' THEN o.settings -> 'allowedGoogleDomains' ELSE '[]'::jsonb END
    ) AS d(value)
    ORDER BY lower(d.value), o.created_at, o.id;

    CREATE INDEX saml_configs_entity_id ON saml_configs (entity_id);

    -- An administrator may unlink an identity; the logins it made stay on record.
    ALTER TABLE login_records ALTER COLUMN identity_id DROP NOT NULL;
    ALTER TABLE login_records DROP CONSTRAINT login_records_identity_id_fkey;
    ALTER TABLE login_records ADD CONSTRAINT login_records_identity_id_fkey FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE SET NULL;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    DELETE FROM login_records WHERE identity_id IS NULL;
    ALTER TABLE login_records DROP CONSTRAINT login_records_identity_id_fkey;
    ALTER TABLE login_records ADD CONSTRAINT login_records_identity_id_fkey FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE CASCADE;
    ALTER TABLE login_records ALTER COLUMN identity_id SET NOT NULL;
    DROP INDEX saml_configs_entity_id;
    DROP TABLE google_domains;
    DROP INDEX identities_provider_subject;
    ALTER TABLE identities DROP CONSTRAINT identities_org_provider_issuer_subject_key;
    ALTER TABLE identities ADD CONSTRAINT identities_provider_issuer_subject_key UNIQUE (provider, issuer, subject);
  `,
  );
}
