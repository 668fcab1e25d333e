import type { Kysely } from 'kysely';
import { runSql } from '../run-sql.ts';

/** The blob collector asks which live documents hold given bytes (src/blobs/collect.ts). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'CREATE INDEX documents_live_sha256 ON documents (sha256) WHERE deleted_at IS NULL;');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await runSql(db, 'DROP INDEX documents_live_sha256;');
}
