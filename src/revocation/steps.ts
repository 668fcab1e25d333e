import type { RevokeStepResult } from '../../connectors/types.ts';
import type { Db } from '../db/database.ts';

/** One step of one connection's clean-up, as the receipt shows it. */
export interface ReceiptStep extends RevokeStepResult {
  at: string;
  attempts: number;
}

export interface ConnectionSteps {
  connectionId: string;
  platform: string;
  externalAccount: string | null;
  userId: string;
  steps: ReceiptStep[];
}

/** Merges a new attempt's results into the recorded steps (same step name: replaced, attempts counted). */
export function mergeSteps(previous: ReceiptStep[], results: RevokeStepResult[], at: Date): ReceiptStep[] {
  const out = [...previous];
  for (const r of results) {
    const i = out.findIndex((s) => s.step === r.step);
    const attempts = i >= 0 ? out[i]!.attempts + 1 : 1;
    const step: ReceiptStep = { ...r, at: at.toISOString(), attempts };
    if (i >= 0) out[i] = step;
    else out.push(step);
  }
  return out;
}

/** Whether a step needs another attempt. */
export const isPending = (s: ReceiptStep | undefined): boolean => !s || s.result === 'failed';

/**
 * The steps the engine runs itself for every platform, after the connector's provider-side steps
 * (which may still need the token and the remembered remote ids). A connector never repeats them.
 */
export const LOCAL_STEPS: ReadonlySet<string> = new Set(['cancel_jobs', 'shred_tokens', 'clear_sync_state']);

/** Crypto-shredding: deletes the connection's stored token ciphertext. */
export async function shredTokens(db: Db, connectionId: string): Promise<RevokeStepResult> {
  const del = await db.deleteFrom('connection_tokens').where('connection_id', '=', connectionId).executeTakeFirst();
  return { step: 'shred_tokens', result: 'done', detail: Number(del.numDeletedRows) ? 'stored token ciphertext deleted' : 'no stored tokens' };
}

/**
 * Forgets what the connection remembered of the provider side: `sync_state` (remote ids and content
 * hashes of what was written), per-item errors and the import cursor. One transaction, so a retry
 * never finds half of it.
 */
export async function clearSyncState(db: Db, connectionId: string): Promise<RevokeStepResult> {
  const removed = await db.transaction().execute(async (tx) => {
    const items = await tx.deleteFrom('sync_state').where('connection_id', '=', connectionId).executeTakeFirst();
    await tx.deleteFrom('sync_item_errors').where('connection_id', '=', connectionId).execute();
    const cursors = await tx.deleteFrom('connector_cursors').where('connection_id', '=', connectionId).executeTakeFirst();
    return { items: Number(items.numDeletedRows), cursors: Number(cursors.numDeletedRows) };
  });
  return {
    step: 'clear_sync_state',
    result: 'done',
    detail: `${removed.items} remembered item(s) and ${removed.cursors} import cursor(s) forgotten`,
  };
}
