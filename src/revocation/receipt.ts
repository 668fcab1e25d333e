import { createPublicKey, type JsonWebKey, KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { recordAudit } from '../audit/audit-log.ts';
import type { Db } from '../db/database.ts';
import { revocationReceipt } from '../observability/metrics.ts';
import type { Services } from '../services.ts';
import { getSigningKey, type JwsType, jcs, type SignedEnvelope, signJws, verifyJson, verifyJws } from '../transfers/signing.ts';
import { emitWebhookEvent } from '../webhooks/outbox.ts';
import type { ConnectionSteps } from './steps.ts';

/**
 * The signed statement of what a revocation did. Everything in it is covered by the signature.
 * `version` 2 receipts are JWS (see {@link ReceiptEnvelope}); version 1 ones, issued before, carry a
 * detached Ed25519 signature and still verify.
 */
export interface RevocationReceipt {
  type: 'casebridge.revocation_receipt';
  version: 1 | 2;
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
   * `completed_with_calls_in_flight`: every step succeeded, but some transfers had no known outcome
   * when the revocation answered (listed in {@link callsOutcomeUnknown}): a call still out may have
   * reached the provider after `effectiveAt`.
   */
  status: 'completed' | 'completed_with_calls_in_flight' | 'completed_with_errors';
  connections: ConnectionSteps[];
  alreadyRevokedConnectionIds: string[];
  /**
   * Transfers whose outcome was not known when the revocation answered — calls that had left and had
   * no answer by its drain deadline, intents a process that died left open, calls that ended `unknown`
   * and were not resolved yet — by transfer id (the intent row's id), with how each ended: its own
   * answer (`sent`, `failed`, `not_sent`) or, for a call that never answered, what reading the
   * provider showed (`took_effect`, `did_not_take_effect`, `unverifiable`; `unresolved` if the
   * provider could not be read yet). No transfer left after the revocation answered; the reads that
   * resolved these are the only requests for the connections after it, besides the pipeline's steps.
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

/** The `typ` of a revocation receipt's JWS. */
export const RECEIPT_JWS_TYPE: JwsType = 'revocation-receipt+jws';

/**
 * A revocation receipt as the API and `receipts get` hand it out. Version 2: `jws` is the compact
 * JWS (EdDSA, `kid` = the signing key's id) whose payload is the RFC 8785 form of `payload` — any
 * JOSE library verifies it with the published JWK. Version 1 (receipts issued before): a detached
 * base64 Ed25519 signature over the project's canonical JSON of `payload`.
 */
export type ReceiptEnvelope = { version: 2; payload: RevocationReceipt; jws: string } | ({ version: 1 } & SignedEnvelope<RevocationReceipt>);

/** Loads a revocation row, org-scoped unless `organizationId` is undefined (super admin / CLI). */
export async function loadRevocation(db: Db, id: string, organizationId?: string | null) {
  let q = db.selectFrom('revocations').selectAll().where('id', '=', id);
  if (organizationId !== undefined) q = q.where('organization_id', organizationId === null ? 'is' : '=', organizationId);
  return q.executeTakeFirst();
}

/** Builds, signs (JWS) and stores the receipt; marks the revocation complete. */
export async function sealRevocation(services: Services, revocationId: string): Promise<ReceiptEnvelope> {
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
    version: 2,
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
  const jws = await signJws(key, receipt, RECEIPT_JWS_TYPE);
  // The receipt, its audit entry and the platform's `revocation.completed` webhook commit together.
  await db.transaction().execute(async (tx) => {
    await tx
      .updateTable('revocations')
      .set({
        status: receipt.status,
        completed_at: completedAt,
        receipt: JSON.stringify(receipt),
        receipt_jws: jws,
        receipt_key_id: key.keyId,
      })
      .where('id', '=', revocationId)
      .execute();
    await recordAudit(tx, {
      organizationId: row.organization_id,
      actor: { kind: 'system', reason: 'revocation pipeline' },
      action: 'revocation.complete',
      target: `revocation:${row.id}`,
      details: { status: receipt.status, ...receipt.counts },
    });
    // A platform-wide revocation (no organization) is announced per connection (`connection.revoked`) only.
    if (row.organization_id) {
      await emitWebhookEvent(tx, {
        organizationId: row.organization_id,
        type: 'revocation.completed',
        data: { revocationId: row.id, receiptId: row.id, status: receipt.status, connectionIds: steps.map((c) => c.connectionId) },
        // Sealed once; a retried job that seals again announces nothing new.
        dedupKey: `revocation.completed:${row.id}`,
      });
    }
  });
  revocationReceipt.observe(Math.max(0, completedAt.getTime() - row.created_at.getTime()) / 1000);
  return { version: 2, payload: receipt, jws };
}

/** The receipt of a completed revocation row in the format it was signed in; null while in progress. */
export function receiptEnvelope(row: {
  receipt: Record<string, unknown> | null;
  receipt_jws: string | null;
  receipt_signature: string | null;
  receipt_key_id: string | null;
}): ReceiptEnvelope | null {
  if (!row.receipt) return null;
  const payload = row.receipt as unknown as RevocationReceipt;
  if (row.receipt_jws) return { version: 2, payload, jws: row.receipt_jws };
  return { version: 1, payload, signature: { algorithm: 'Ed25519', keyId: row.receipt_key_id ?? '', value: row.receipt_signature ?? '' } };
}

/**
 * Checks a receipt (either format) against the deployment key or a published public key (SPKI PEM or
 * JWK). A version-2 receipt must verify as a JWS and, when it carries a readable `payload`, that copy
 * must say exactly what the JWS signed — an edit to either fails.
 */
export async function verifyReceipt(envelope: unknown, publicKey: string | KeyObject | JWK): Promise<boolean> {
  if (!envelope || typeof envelope !== 'object') return false;
  const e = envelope as { jws?: unknown; payload?: unknown; signature?: unknown };
  if (typeof e.jws === 'string') {
    const verified = await verifyJws(publicKey, e.jws, RECEIPT_JWS_TYPE);
    if (!verified || (verified.payload as RevocationReceipt | null)?.type !== 'casebridge.revocation_receipt') return false;
    if (e.payload === undefined) return true;
    try {
      return jcs(e.payload) === verified.payloadText;
    } catch {
      return false; // a payload no JSON canonical form exists for cannot be what was signed
    }
  }
  const legacy = e as SignedEnvelope<RevocationReceipt>;
  if (!legacy.payload || !legacy.signature || legacy.payload.type !== 'casebridge.revocation_receipt') return false;
  try {
    const pub = typeof publicKey === 'string' || publicKey instanceof KeyObject ? publicKey : createPublicKey({ key: publicKey as JsonWebKey, format: 'jwk' });
    return verifyJson(pub, legacy);
  } catch {
    return false; // not a usable public key
  }
}
