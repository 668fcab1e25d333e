import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/**
 * Checkpoints and revocation receipts signed as JWS (compact serialization, EdDSA, RFC 8785 payload),
 * verifiable with any JOSE library and the published JWK. Rows signed before keep their detached
 * Ed25519 signature (format 1) and stay verifiable; a checkpoint carries exactly one of the two.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE transfer_log_checkpoints ADD COLUMN jws text;
    ALTER TABLE transfer_log_checkpoints ALTER COLUMN signature DROP NOT NULL;
    ALTER TABLE transfer_log_checkpoints ADD CONSTRAINT transfer_log_checkpoints_signed CHECK (num_nonnulls(signature, jws) = 1);
    ALTER TABLE revocations ADD COLUMN receipt_jws text;
  `,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(
    db,
    `
    ALTER TABLE revocations DROP COLUMN receipt_jws;
    ALTER TABLE transfer_log_checkpoints DROP CONSTRAINT transfer_log_checkpoints_signed;
    ALTER TABLE transfer_log_checkpoints DROP COLUMN jws;
  `,
  );
}
