import type { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type loadRevocation, receiptEnvelope } from '../revocation/receipt.ts';
import { RevocationError, type RevocationRequester, requestRevocation } from '../revocation/service.ts';
import type { ConnectionSteps } from '../revocation/steps.ts';
import type { Services } from '../services.ts';
import { getSigningKey } from '../transfers/signing.ts';
import { clientAddress } from './client-address.ts';
import type { AppEnv } from './env.ts';
import { ApiError } from './errors.ts';
import type { InFlightCallSchema, RevocationViewSchema, StoredTargetSchema } from './schemas/revocations.ts';

/**
 * How the revocation routes answer: a stored revocation as its progress view (with the signed
 * receipt once complete), the accepted answer of a request, and who asked.
 */

/** Shapes a stored revocation for the API: progress always, the signed receipt once complete. */
export async function viewRevocation(services: Services, row: NonNullable<Awaited<ReturnType<typeof loadRevocation>>>) {
  const steps = row.steps as Array<{ steps: Array<{ result: string }> }>;
  const all = steps.flatMap((c) => c.steps);
  return {
    id: row.id,
    organizationId: row.organization_id,
    target: row.target as z.infer<typeof StoredTargetSchema>,
    reason: row.reason,
    purgeRemote: row.purge_remote,
    status: row.status,
    requestedAt: row.created_at.toISOString(),
    effectiveAt: row.effective_at.toISOString(),
    completedAt: row.completed_at?.toISOString() ?? null,
    progress: {
      connections: (row.connection_ids as string[]).length,
      connectionsProcessed: steps.length,
      stepsDone: all.filter((s) => s.result === 'done' || s.result === 'not_supported' || s.result === 'skipped').length,
      stepsPending: all.filter((s) => s.result === 'failed').length,
      jobsCancelled: row.jobs_cancelled,
      remoteItemsRemoved: row.remote_items_removed,
      callsDrained: row.calls_drained,
      callsStillRunning: row.calls_still_running,
    },
    callsOutcomeUnknown: (row.calls_outcome_unknown ?? []).map((c) => ({
      transferId: c.transferId,
      resolution: c.resolution as z.infer<typeof InFlightCallSchema>['resolution'],
    })),
    connections: row.steps as ConnectionSteps[],
    receipt: receiptEnvelope(row) as z.infer<typeof RevocationViewSchema>['revocation']['receipt'],
    publicKey: row.receipt ? getSigningKey(services.config).publicKeyPem : null,
    publicKeyJwk: row.receipt ? getSigningKey(services.config).publicJwk : null,
  };
}

export function accepted(result: Awaited<ReturnType<typeof requestRevocation>>) {
  return {
    revocation: {
      id: result.revocationId,
      status: result.created ? 'in_progress' : 'already_revoked',
      effectiveAt: result.effectiveAt.toISOString(),
      connectionsRevoked: result.connectionIds.length,
      alreadyRevoked: result.alreadyRevokedIds.length,
      created: result.created,
      message: result.created
        ? 'Revoked: no further transfer can start for these connections. Provider-side clean-up continues in the background.'
        : 'Already revoked: nothing changed. This is the earlier revocation that covered the target.',
    },
  };
}

export async function revokeOrThrow(services: Services, params: Parameters<typeof requestRevocation>[1]) {
  try {
    return await requestRevocation(services, params);
  } catch (err) {
    if (err instanceof RevocationError) throw new ApiError(404, err.code, err.message);
    throw err;
  }
}

export function requesterOf(c: { get(k: 'principal'): AppEnv['Variables']['principal'] }): RevocationRequester {
  const p = c.get('principal');
  return p.kind === 'user' ? { kind: 'user', userId: p.userId } : { kind: 'super_admin' };
}

export const requestContext = (c: Context<AppEnv>) => ({
  ip: clientAddress(c),
  userAgent: c.req.header('user-agent') ?? null,
});
