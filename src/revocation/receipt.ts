import { recordAudit } from '../audit/audit-log.ts';
import type { Db } from '../db/database.ts';
import type { Services } from '../services.ts';
import { getSigningKey, type SignedEnvelope, signJson, verifyJson } from '../transfers/signing.ts';
import type { ConnectionSteps } from './steps.ts';

/** The signed statement of what a revocation did. Everything in it is covered by the signature. */
export interface RevocationReceipt {
  type: 'casebridge.revocation_receipt';
  version: 1;
  revocationId: string;
  organizationId: string | null;
  target: unknown;
  reason: string;
  purgeRemote: boolean;
  requestedBy: unknown;
  requestedAt: string;
  /** From this instant no transfer for these connections could start. */
  effectiveAt: string;
  completedAt: string;
  /**
   * `completed_with_calls_in_flight`: every step succeeded, but calls that had left before the
   * revocation had no answer by its drain deadline (listed in {@link callsOutcomeUnknown}): they may
   * have reached the provider after `effectiveAt`.
   */
  status: 'completed' | 'completed_with_calls_in_flight' | 'completed_with_errors';
  connections: ConnectionSteps[];
  alreadyRevokedConnectionIds: string[];
  /**
   * Calls that had left before the revocation and had no answer by its drain deadline, by transfer id
   * (the intent row's id), with how each ended: its own answer (`sent`, `failed`, `not_sent`) or, for
   * a call that never answered, what reading the provider showed (`took_effect`,
   * `did_not_take_effect`, `unverifiable`; `unresolved` if the provider could not be read yet). No
   * request left after the revocation answered.
   */
  callsOutcomeUnknown: Array<{ transferId: string; resolution: string }>;
  counts: {
    connections: number;
    jobsCancelled: number;
    remoteItemsRemoved: number;
    /**
     * Gate calls (a transfer, or a reconcile chunk) already under way when the revocation was
     * decided; `effectiveAt` is after all of them finished.
     */
    callsDrained: number;
    /** Calls still running when the drain gave up (normally 0; otherwise the status says errors). */
    callsStillRunning: number;
  };
}

export type SignedReceipt = SignedEnvelope<RevocationReceipt>;

/** Loads a revocation row, org-scoped unless `organizationId` is undefined (super admin / CLI). */
export async function loadRevocation(db: Db, id: string, organizationId?: string | null) {
  let q = db.selectFrom('revocations').selectAll().where('id', '=', id);
  if (organizationId !== undefined) q = q.where('organization_id', organizationId === null ? 'is' : '=', organizationId);
  return q.executeTakeFirst();
}

/** Builds, signs and stores the receipt; marks the revocation complete. */
export async function sealRevocation(services: Services, revocationId: string): Promise<SignedReceipt> {
  const { db, config } = services;
  const row = await loadRevocation(db, revocationId);
  if (!row) throw new Error(`revocation ${revocationId} not found`);
  const steps = row.steps as unknown as ConnectionSteps[];
  const failed = steps.some((c) => c.steps.some((s) => s.result === 'failed'));
  const callsOutcomeUnknown = row.calls_outcome_unknown ?? [];
  const late = row.calls_still_running > 0 || callsOutcomeUnknown.length > 0;
  const completedAt = new Date();
  const receipt: RevocationReceipt = {
    type: 'casebridge.revocation_receipt',
    version: 1,
    revocationId: row.id,
    organizationId: row.organization_id,
    target: row.target,
    reason: row.reason,
    purgeRemote: row.purge_remote,
    requestedBy: row.requested_by,
    requestedAt: row.created_at.toISOString(),
    effectiveAt: row.effective_at.toISOString(),
    completedAt: completedAt.toISOString(),
    status: failed ? 'completed_with_errors' : late ? 'completed_with_calls_in_flight' : 'completed',
    connections: steps,
    alreadyRevokedConnectionIds: row.already_revoked_ids as unknown as string[],
    callsOutcomeUnknown,
    counts: {
      connections: steps.length,
      jobsCancelled: row.jobs_cancelled,
      remoteItemsRemoved: row.remote_items_removed,
      callsDrained: row.calls_drained,
      callsStillRunning: row.calls_still_running,
    },
  };
  const key = getSigningKey(config);
  const signed = signJson(key, receipt);
  await db
    .updateTable('revocations')
    .set({
      status: receipt.status,
      completed_at: completedAt,
      receipt: JSON.stringify(receipt),
      receipt_signature: signed.signature.value,
      receipt_key_id: signed.signature.keyId,
    })
    .where('id', '=', revocationId)
    .execute();
  await recordAudit(db, {
    organizationId: row.organization_id,
    actor: { kind: 'system', reason: 'revocation pipeline' },
    action: 'revocation.complete',
    target: `revocation:${row.id}`,
    details: { status: receipt.status, ...receipt.counts },
  });
  return signed;
}

/** Checks a receipt file's signature with the deployment key (or a published public key PEM). */
export function verifyReceipt(envelope: unknown, publicKey: string | import('node:crypto').KeyObject): boolean {
  const e = envelope as SignedReceipt;
  if (!e || typeof e !== 'object' || !e.payload || !e.signature) return false;
  if (e.payload.type !== 'casebridge.revocation_receipt') return false;
  return verifyJson(publicKey, e);
}
