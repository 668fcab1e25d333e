import { sql } from 'kysely';
import { revokeInTransactionHooks } from '../../connectors/transaction-hooks.ts';
import { type AuditActor, recordAudit } from '../audit/audit-log.ts';
import type { UserPrincipal } from '../auth/principal.ts';
import { connectionToManage } from '../connections/access.ts';
import { announceTransition, applyTransition } from '../connections/state-machine.ts';
import type { Db } from '../db/database.ts';
import { CasebridgeError, NotFoundError } from '../errors/index.ts';
import { revocationAccepted } from '../observability/metrics.ts';
import { recordSecurityEvent } from '../security/events.ts';
import type { Services } from '../services.ts';
import { waitForInflightTransfers } from '../transfers/inflight.ts';
import { unsettledTransfers } from '../transfers/resolution.ts';
import { sealRevocation } from './receipt.ts';

/**
 * The revocation pipeline's synchronous half: everything that must be true before the requester
 * gets an answer. After `requestRevocation` returns, no transfer for the affected connections can
 * start (status revoked, consents withdrawn, revocation epochs bumped, in-flight transfers drained)
 * and the asynchronous half (`process-revocation.ts`, the `revoke` queue) only cleans up: jobs,
 * provider-side tokens, stored ciphertext, optional remote data.
 */

export type RevocationTarget =
  | { kind: 'connection'; connectionId: string }
  | { kind: 'user'; userId: string }
  | { kind: 'organization' }
  | { kind: 'platform'; platform: string }
  | { kind: 'platform_all_organizations'; platform: string };

export type RevocationRequester = AuditActor;

export class RevocationError extends CasebridgeError {
  constructor(
    override readonly code: 'target_not_found' | 'nothing_to_revoke',
    message: string,
  ) {
    super(code, message);
  }
}

export interface RevocationRequestResult {
  revocationId: string;
  /** False when every connection of the target was already revoked: nothing new happened. */
  created: boolean;
  connectionIds: string[];
  alreadyRevokedIds: string[];
  effectiveAt: Date;
}

interface TargetConnection {
  id: string;
  organization_id: string;
  status: string;
}

/** The connections a target covers; throws `target_not_found` for ids outside the organization. */
export async function resolveTarget(db: Db, params: { organizationId: string | null; target: RevocationTarget }): Promise<TargetConnection[]> {
  const { target, organizationId } = params;
  let q = db.selectFrom('connections').select(['id', 'organization_id', 'status']);
  if (target.kind === 'platform_all_organizations') {
    return q.where('platform', '=', target.platform).execute();
  }
  if (!organizationId) throw new RevocationError('target_not_found', 'an organization is required for this target');
  q = q.where('organization_id', '=', organizationId);
  switch (target.kind) {
    case 'connection': {
      const rows = await q.where('id', '=', target.connectionId).execute();
      if (!rows.length) throw new RevocationError('target_not_found', 'connection not found');
      return rows;
    }
    case 'user': {
      const user = await db.selectFrom('users').select('id').where('id', '=', target.userId).where('organization_id', '=', organizationId).executeTakeFirst();
      if (!user) throw new RevocationError('target_not_found', 'user not found');
      return q.where('user_id', '=', target.userId).execute();
    }
    case 'organization':
      return q.execute();
    case 'platform':
      return q.where('platform', '=', target.platform).execute();
  }
}

/**
 * Revokes a target's connections locally and queues the clean-up. Idempotent: when every
 * connection was already revoked, returns the latest revocation that covered them with
 * `created: false` and changes nothing.
 */
export async function requestRevocation(
  services: Services,
  params: {
    organizationId: string | null;
    target: RevocationTarget;
    reason: string;
    purgeRemote: boolean;
    requestedBy: RevocationRequester;
    enqueue: (revocationId: string) => Promise<void>;
  },
): Promise<RevocationRequestResult> {
  const { db, redis, config } = services;
  const started = performance.now();
  const connections = await resolveTarget(db, params);
  const live = connections.filter((c) => c.status !== 'revoked').map((c) => c.id);
  const already = connections.filter((c) => c.status === 'revoked').map((c) => c.id);

  if (!live.length) {
    const previous = already.length
      ? await db
          .selectFrom('revocations')
          .select(['id', 'effective_at'])
          .where(sql<boolean>`connection_ids ?| array[${sql.join(already)}]::text[]`)
          .orderBy('created_at', 'desc')
          .limit(1)
          .executeTakeFirst()
      : undefined;
    if (previous) {
      return { revocationId: previous.id, created: false, connectionIds: [], alreadyRevokedIds: already, effectiveAt: previous.effective_at };
    }
  }

  // When the revocation was decided: the connections' revoked_at and the consents' withdrawn_at. The
  // receipt's `effectiveAt` is later — the instant the drain below finished.
  const decidedAt = new Date();
  const revocationId = await db.transaction().execute(async (tx) => {
    if (live.length) {
      await applyTransition(tx, { ids: live, to: 'revoked', at: decidedAt });
      await tx
        .updateTable('consents')
        .set({ withdrawn_at: decidedAt, withdrawn_by: 'revocation' })
        .where('connection_id', 'in', live)
        .where('withdrawn_at', 'is', null)
        .execute();
      // Credentials a platform keeps itself (e.g. a feed token) die with the same commit.
      for (const hook of revokeInTransactionHooks) await hook(tx, { connectionIds: live, at: decidedAt });
    }
    const row = await tx
      .insertInto('revocations')
      .values({
        organization_id: params.organizationId,
        target: JSON.stringify(params.target),
        reason: params.reason,
        purge_remote: params.purgeRemote,
        requested_by: JSON.stringify(params.requestedBy),
        status: live.length ? 'in_progress' : 'completed',
        connection_ids: JSON.stringify(live),
        already_revoked_ids: JSON.stringify(already),
        // Rewritten once the in-flight transfers have drained (below).
        effective_at: decidedAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await recordAudit(tx, {
      organizationId: params.organizationId,
      actor: params.requestedBy,
      action: 'revocation.request',
      target: targetLabel(params.target),
      details: { revocationId: row.id, reason: params.reason, purgeRemote: params.purgeRemote, connections: live.length, alreadyRevoked: already.length },
    });
    return row.id;
  });

  // Every process re-reads consent at its next gate call; then wait for calls already past the
  // gate so that nothing reaches a provider after we answer.
  await announceTransition(services, live);
  const drain = await waitForInflightTransfers(redis, config.REDIS_PREFIX, live, { timeoutMs: config.REVOCATION_DRAIN_TIMEOUT_MS });
  // From now on no transfer for these connections is running or can start: this is the instant the
  // receipt states. (Transfers that started before the bump finished during the drain, so every
  // `intent`/`sent` row of these connections is older than it.) The receipt also says how many calls
  // the drain waited for, and — should a call outlive its lease deadline — that it could not wait.
  const effectiveAt = new Date();
  // Calls whose outcome is not known now: those that had left before the bump and have no answer by
  // the drain deadline (no new call can start — every call re-reads the epoch less than a second
  // before it leaves, and the deadline is longer — but these may still reach the provider), and those
  // a process that died left open or that ended `unknown` and are not resolved yet. The receipt lists
  // them by transfer id and the pipeline resolves each (`settleTransfers`, reading the provider)
  // before the provider-side steps: after the 202, those reads are the only requests for these
  // connections besides the pipeline's own steps (token revoke, purge).
  const inFlight = await unsettledTransfers(services, live, effectiveAt);
  if (drain.stillRunning || inFlight.length) {
    services.logger.warn(
      { revocationId, stillRunning: drain.stillRunning, callsOutcomeUnknown: inFlight.length },
      'revocation answered with transfers of unknown outcome (calls still in flight, or left open or unknown); they are listed on the receipt and resolved',
    );
  }
  await db
    .updateTable('revocations')
    .set({
      effective_at: effectiveAt,
      calls_drained: drain.waitedFor,
      calls_still_running: drain.stillRunning,
      calls_outcome_unknown: JSON.stringify(inFlight.map((transferId) => ({ transferId, resolution: 'pending' }))),
    })
    .where('id', '=', revocationId)
    .execute();
  if (live.length) await params.enqueue(revocationId);
  // A target with no live connection still gets its (empty) signed receipt.
  else await sealRevocation(services, revocationId);
  revocationAccepted.observe((performance.now() - started) / 1000);
  return { revocationId, created: true, connectionIds: live, alreadyRevokedIds: already, effectiveAt };
}

/**
 * A user disconnects a connection they may manage ({@link connectionToManage}): their own, or, for an
 * organization-level platform, any of their organization's when they are an administrator (a
 * member gets `admin_required`). The revocation pipeline for that connection, with the user as
 * requester. Any other connection (or another organization's) is `target_not_found`, as if it did
 * not exist. Used by the API (`DELETE /v1/connections/{id}`) and the Disconnect page alike.
 */
export async function disconnectOwnConnection(
  services: Services,
  params: {
    principal: UserPrincipal;
    connectionId: string;
    purgeRemote: boolean;
    enqueue: (revocationId: string) => Promise<void>;
  },
): Promise<RevocationRequestResult> {
  const { principal } = params;
  let connection: Awaited<ReturnType<typeof connectionToManage>>;
  try {
    connection = await connectionToManage(services.db, { principal, connectionId: params.connectionId });
  } catch (err) {
    if (err instanceof NotFoundError) throw new RevocationError('target_not_found', 'connection not found');
    throw err;
  }
  const own = connection.user_id === principal.userId;
  return requestRevocation(services, {
    organizationId: principal.organizationId,
    target: { kind: 'connection', connectionId: params.connectionId },
    reason: own ? 'disconnected by the user' : 'disconnected by an administrator',
    purgeRemote: params.purgeRemote,
    requestedBy: { kind: 'user', userId: principal.userId },
    enqueue: params.enqueue,
  });
}

/**
 * An administrator revokes a target of their organization: the revocation pipeline plus the
 * `revocation.requested` security event. Used by the API (`POST /v1/admin/revocations`) and the
 * admin console's revocation page alike.
 */
export async function adminRevocation(
  services: Services,
  params: {
    organizationId: string;
    adminUserId: string;
    target: RevocationTarget;
    reason: string;
    purgeRemote: boolean;
    ip: string | null;
    userAgent: string | null;
    enqueue: (revocationId: string) => Promise<void>;
  },
): Promise<RevocationRequestResult> {
  const result = await requestRevocation(services, {
    organizationId: params.organizationId,
    target: params.target,
    reason: params.reason,
    purgeRemote: params.purgeRemote,
    requestedBy: { kind: 'user', userId: params.adminUserId },
    enqueue: params.enqueue,
  });
  await recordSecurityEvent(services.db, {
    organizationId: params.organizationId,
    userId: params.adminUserId,
    kind: 'revocation.requested',
    outcome: 'success',
    reason: params.reason,
    ip: params.ip,
    userAgent: params.userAgent,
    details: { revocationId: result.revocationId, target: params.target, connections: result.connectionIds.length, created: result.created },
  });
  return result;
}

export function targetLabel(target: RevocationTarget): string {
  switch (target.kind) {
    case 'connection':
      return `connection:${target.connectionId}`;
    case 'user':
      return `user:${target.userId}`;
    case 'organization':
      return 'organization';
    case 'platform':
      return `platform:${target.platform}`;
    case 'platform_all_organizations':
      return `platform:${target.platform}:all_organizations`;
  }
}
