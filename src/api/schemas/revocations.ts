import { z } from '@hono/zod-openapi';
import { SigningJwkSchema } from './signing-key.ts';

/**
 * Revocation request and response schemas, typed field by field: the target, the accepted answer,
 * the progress view and the signed receipt's statement (as `src/revocation/receipt.ts` writes it).
 */

/** Who asked for a revocation (an audit actor). */
export const AuditActorSchema = z
  .union([
    z.object({ kind: z.literal('user'), userId: z.string() }),
    z.object({ kind: z.literal('super_admin') }),
    z.object({ kind: z.literal('job'), jobId: z.string(), queue: z.string() }),
    z.object({ kind: z.literal('api_key'), apiKeyId: z.string() }),
    z.object({ kind: z.literal('system'), reason: z.string() }),
  ])
  .openapi('AuditActor');

/** A stored target: what an administrator can ask for, or a deployment-wide platform revocation. */
export const StoredTargetSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('connection'), connectionId: z.uuid() }),
    z.object({ kind: z.literal('user'), userId: z.uuid() }),
    z.object({ kind: z.literal('organization') }),
    z.object({ kind: z.literal('platform'), platform: z.string() }),
    z.object({ kind: z.literal('platform_all_organizations'), platform: z.string() }),
  ])
  .openapi('RevocationStoredTarget');

/** One row of the revocation list. */
export const RevocationSummarySchema = z
  .object({
    id: z.uuid(),
    target: StoredTargetSchema,
    reason: z.string(),
    status: z.enum(['in_progress', 'completed', 'completed_with_calls_in_flight', 'completed_with_errors']),
    purgeRemote: z.boolean(),
    connections: z.number().int(),
    requestedAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .openapi('RevocationSummary');

export const TargetSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('connection'), connectionId: z.uuid() }),
    z.object({ kind: z.literal('user'), userId: z.uuid() }),
    z.object({ kind: z.literal('organization') }),
    z.object({ kind: z.literal('platform'), platform: z.string().min(1).max(64) }),
  ])
  .openapi('RevocationTarget');

export const RevocationRequestSchema = z
  .object({
    target: TargetSchema,
    reason: z.string().trim().min(1).max(1000),
    purgeRemote: z.boolean().default(false),
  })
  .openapi('RevocationRequest');

export const AcceptedSchema = z
  .object({
    revocation: z.object({
      id: z.uuid(),
      status: z.string(),
      effectiveAt: z.string(),
      connectionsRevoked: z.number(),
      alreadyRevoked: z.number(),
      created: z.boolean(),
      message: z.string(),
    }),
  })
  .openapi('RevocationAccepted');

export const RevocationStepSchema = z
  .object({
    step: z.string().openapi({ description: 'cancel_jobs, provider_revoke, purge_remote, shred_tokens, …' }),
    result: z.enum(['done', 'not_supported', 'failed', 'skipped']),
    detail: z.string().optional(),
    providerStatus: z.number().int().optional(),
    removedItems: z.number().int().optional(),
    at: z.string(),
    attempts: z.number().int(),
  })
  .openapi('RevocationStep');

export const RevokedConnectionSchema = z
  .object({
    connectionId: z.uuid(),
    platform: z.string(),
    externalAccount: z.string().nullable(),
    userId: z.string(),
    steps: z.array(RevocationStepSchema),
  })
  .openapi('RevokedConnection');

/** A revocation receipt's statement (see `RevocationReceipt`): what was revoked, every step, effectiveAt and the counts. */
export const ReceiptPayloadSchema = z
  .object({
    type: z.literal('casebridge.revocation_receipt'),
    version: z.union([z.literal(1), z.literal(2)]),
    revocationId: z.uuid(),
    organizationId: z.uuid().nullable(),
    target: StoredTargetSchema,
    reason: z.string(),
    purgeRemote: z.boolean(),
    requestedBy: AuditActorSchema,
    requestedAt: z.string(),
    effectiveAt: z.string(),
    completedAt: z.string(),
    status: z.enum(['completed', 'completed_with_calls_in_flight', 'completed_with_errors']),
    connections: z.array(RevokedConnectionSchema),
    alreadyRevokedConnectionIds: z.array(z.string()),
    callsOutcomeUnknown: z.array(z.object({ transferId: z.string(), resolution: z.string() })),
    counts: z.object({
      connections: z.number().int(),
      jobsCancelled: z.number().int(),
      remoteItemsRemoved: z.number().int(),
      callsDrained: z.number().int(),
      callsStillRunning: z.number().int(),
    }),
  })
  .openapi('RevocationReceipt', { description: 'the receipt: what was revoked, every step, effectiveAt and the counts' });

export const InFlightCallSchema = z
  .object({
    transferId: z.uuid().openapi({ description: 'the transfer-log intent row of the call' }),
    resolution: z.enum(['pending', 'sent', 'failed', 'not_sent', 'took_effect', 'did_not_take_effect', 'unverifiable', 'unresolved']).openapi({
      description:
        '`pending` until settled; the call’s own answer (`sent`, `failed`, `not_sent`) when it came; else what reading the provider showed (`took_effect`, `did_not_take_effect`, `unverifiable`), or `unresolved` when the provider could not be read yet',
    }),
  })
  .openapi('RevocationInFlightCall');

export const RevocationViewSchema = z
  .object({
    revocation: z.object({
      id: z.uuid(),
      organizationId: z.uuid().nullable(),
      target: StoredTargetSchema,
      reason: z.string(),
      purgeRemote: z.boolean(),
      status: z.enum(['in_progress', 'completed', 'completed_with_calls_in_flight', 'completed_with_errors']).openapi({
        description:
          '`completed_with_calls_in_flight`: every step succeeded, but some transfers of the connections had no known outcome when the revocation answered (see callsOutcomeUnknown)',
      }),
      requestedAt: z.string(),
      effectiveAt: z.string().openapi({ description: 'from this instant no transfer for these connections was running or could start' }),
      completedAt: z.string().nullable(),
      progress: z.object({
        connections: z.number().int(),
        connectionsProcessed: z.number().int(),
        stepsDone: z.number().int(),
        stepsPending: z.number().int(),
        jobsCancelled: z.number().int().openapi({ description: 'waiting or delayed sync jobs removed' }),
        remoteItemsRemoved: z.number().int(),
        callsDrained: z.number().int().openapi({
          description: 'gate calls (a transfer or a reconcile chunk) already under way that the revocation waited for before answering',
        }),
        callsStillRunning: z.number().int().openapi({ description: 'calls still running when the drain gave up; normally 0' }),
      }),
      callsOutcomeUnknown: z.array(InFlightCallSchema).openapi({
        description:
          'transfers of the connections whose outcome was not known when the revocation answered, by transfer id: calls that had left and had no answer by the drain deadline, intents a process that died left open, calls that ended `unknown` and were not resolved yet. No transfer left after the response; the pipeline resolves each by reading the provider before the provider-side steps, and those reads are the only requests for the connections after it besides those steps.',
      }),
      connections: z.array(RevokedConnectionSchema),
      receipt: z
        .discriminatedUnion('version', [
          z.object({
            version: z.literal(2),
            payload: ReceiptPayloadSchema,
            jws: z.string().openapi({
              description:
                'compact JWS (EdDSA, typ revocation-receipt+jws) whose payload is the RFC 8785 canonical JSON of `payload`; verify with `publicKeyJwk` and any JOSE library',
            }),
          }),
          z.object({
            version: z.literal(1),
            payload: ReceiptPayloadSchema,
            signature: z
              .object({ algorithm: z.literal('Ed25519'), keyId: z.string(), value: z.string() })
              .openapi({ description: 'receipts issued before JWS: base64 Ed25519 over the canonical JSON of `payload`' }),
          }),
        ])
        .nullable()
        .openapi({ description: 'signed once the revocation is complete; verify with publicKeyJwk or `npx casebridge receipts verify`' }),
      publicKey: z.string().nullable().openapi({ description: 'the signing key as an SPKI PEM' }),
      publicKeyJwk: SigningJwkSchema.nullable(),
    }),
  })
  .openapi('RevocationView');
