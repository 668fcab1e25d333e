import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Revocations requested by organization administrators, users (disconnect) or the deployment's
 * super administrator. The row is the receipt's source: targets, the connections affected, each
 * step's result, and — once complete — the Ed25519-signed receipt.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    CREATE TABLE revocations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      -- Null for a super-admin revocation spanning every organization.
      organization_id uuid REFERENCES organizations(id) ON DELETE CASCADE,
      -- {"kind":"connection","connectionId":…} | {"kind":"user","userId":…} | {"kind":"organization"}
      -- | {"kind":"platform","platform":…} | {"kind":"platform_all_organizations","platform":…}
      target jsonb NOT NULL,
      reason text NOT NULL,
      purge_remote boolean NOT NULL DEFAULT false,
      requested_by jsonb NOT NULL,
      -- 'in_progress' until every step settled, then 'completed' (all done) or 'completed_with_errors'.
      status text NOT NULL CHECK (status IN ('in_progress', 'completed', 'completed_with_errors')),
      connection_ids jsonb NOT NULL DEFAULT '[]'::jsonb,
      -- Connections of the target that were already revoked before this request.
      already_revoked_ids jsonb NOT NULL DEFAULT '[]'::jsonb,
      -- Per connection: [{connectionId, platform, account, steps:[{step,result,detail,providerStatus,at,attempts}]}]
      steps jsonb NOT NULL DEFAULT '[]'::jsonb,
      jobs_cancelled integer NOT NULL DEFAULT 0,
      remote_items_removed integer NOT NULL DEFAULT 0,
      effective_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      receipt jsonb,
      receipt_signature text,
      receipt_key_id text
    );
    CREATE INDEX revocations_org ON revocations (organization_id, created_at);
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP TABLE revocations;');
}
