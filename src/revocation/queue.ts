import { inSpan, type JobOrigin, jobOrigin, SpanKind } from '../observability/tracing.ts';
import type { Services } from '../services.ts';

/**
 * Enqueues a revocation's clean-up on the `revoke` queue: one job per revocation (job id =
 * revocation id, so a duplicate enqueue is a no-op). The worker is `queues/revoke-worker.ts`.
 */

export const REVOKE_ATTEMPTS = 6;

export interface RevokeJobData {
  revocationId: string;
  /** The request id and trace context of the revocation request (observability/tracing.ts). */
  origin?: JobOrigin;
}

export async function enqueueRevocation(services: Services, revocationId: string): Promise<void> {
  await inSpan('revoke publish', { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': 'revoke' } }, () =>
    addRevokeJob(services, revocationId),
  );
}

async function addRevokeJob(services: Services, revocationId: string): Promise<void> {
  await services.queues.revoke.add('revoke', { revocationId, origin: jobOrigin() } satisfies RevokeJobData, {
    jobId: revocationId,
    attempts: REVOKE_ATTEMPTS,
    backoff: { type: 'exponential', delay: services.config.REVOCATION_RETRY_BASE_MS },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  });
}
