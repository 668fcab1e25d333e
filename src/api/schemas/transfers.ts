import { z } from '@hono/zod-openapi';

/**
 * The transfer log's response schemas, typed field by field (no free-form objects): a row
 * (`Transfer`, as `transferView` shapes it), the verify report, a sealed checkpoint and the
 * subject-access report. Route files import them; `src/transfers/` stays free of HTTP.
 */

/** Row outcomes, as stored. */
export const TRANSFER_OUTCOMES = ['intent', 'sent', 'failed', 'blocked', 'not_modified', 'received', 'unknown', 'not_sent', 'resolved'] as const;

const ids = z.array(z.string()).optional();

/** The data subjects a transfer carried data about, by kind. */
export const TransferSubjectsSchema = z
  .object({ caseIds: ids, eventIds: ids, documentIds: ids, contactIds: ids, personIds: ids })
  .openapi('TransferSubjects', { example: { caseIds: ['8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11'], eventIds: ['evt-1001'] } });

/** Who caused a transfer: a queued job, a user, a feed fetch, or the system. */
export const TransferActorSchema = z
  .union([
    z.object({ kind: z.literal('job'), jobId: z.string(), queue: z.string() }),
    z.object({ kind: z.literal('user'), userId: z.string() }),
    z.object({ kind: z.literal('feed_fetch'), ip: z.string().nullable(), userAgent: z.string().nullable() }),
    z.object({ kind: z.literal('system'), reason: z.string() }),
  ])
  .openapi('TransferActor');

export const TransferSchema = z
  .object({
    id: z.uuid(),
    seq: z.number().int().openapi({ description: 'position in the organization-wide hash chain' }),
    createdAt: z.string(),
    direction: z.enum(['outbound', 'inbound']),
    outcome: z.enum(TRANSFER_OUTCOMES).openapi({
      description:
        '`intent` (written before the call), `sent` / `received`, `failed` (the provider answered with an error), `unknown` (the request may have left and no answer came: timeout, lost connection, process death), `not_sent` (prepared, never sent), `resolved` (the provider was read afterwards; `reason` says whether the write took effect), `blocked`, `not_modified`',
    }),
    operation: z.string().openapi({ example: 'create' }),
    purpose: z.string(),
    organizationId: z.uuid(),
    userId: z.string().nullable(),
    connectionId: z.string().nullable(),
    platform: z.string().nullable().openapi({ description: 'the platform id of the connection' }),
    recipient: z.object({ account: z.string().nullable(), destination: z.string().nullable() }),
    subjects: TransferSubjectsSchema,
    subjectsDigest: z.string().nullable().openapi({ description: 'set when the subjects are stored by reference: SHA-256 of their canonical JSON' }),
    categories: z.array(z.string()),
    fieldNames: z.array(z.string()),
    consent: z.object({ id: z.string(), version: z.number().int().nullable() }).nullable(),
    payload: z.object({ sha256: z.string().nullable(), bytes: z.number().int().nullable() }),
    actor: TransferActorSchema,
    itemKey: z.string().nullable(),
    intentId: z.uuid().nullable().openapi({ description: 'outcome and resolution rows: the intent row they complete' }),
    providerStatus: z.number().int().nullable(),
    remoteId: z.string().nullable(),
    durationMs: z.number().nullable(),
    reason: z.string().nullable().openapi({
      description: '`blocked`: why the gate refused; `resolved`: took_effect, did_not_take_effect or unverifiable; `not_sent`: why it stopped',
    }),
    error: z.object({ class: z.string(), message: z.string().nullable() }).nullable(),
    requester: z.object({ ip: z.string().nullable(), userAgent: z.string().nullable() }).nullable(),
    prevHash: z.string().nullable(),
    hash: z.string(),
  })
  .openapi('Transfer');

const VerifyProblemSchema = z
  .object({
    kind: z.enum([
      'hash_mismatch',
      'row_rewritten',
      'rows_missing',
      'unanchored_start',
      'checkpoint_mismatch',
      'checkpoint_signature_invalid',
      'head_mismatch',
      'subject_set_missing',
      'subject_set_changed',
      'checkpoint_missing',
    ]),
    id: z.string().nullable().openapi({ description: 'the row named as broken (null when the rows are gone)' }),
    seq: z.number().int(),
    expected: z.string(),
    actual: z.string(),
    message: z.string(),
  })
  .openapi('TransferLogProblem');

export const VerifyReportSchema = z
  .object({
    ok: z.boolean(),
    rowsChecked: z.number().int(),
    durationMs: z.number(),
    keyId: z.string(),
    organizations: z.array(
      z.object({
        organizationId: z.uuid(),
        ok: z.boolean(),
        rows: z.number().int(),
        firstSeq: z.number().int().nullable(),
        lastSeq: z.number().int().nullable(),
        checkpointsVerified: z.number().int(),
        checkpointsUnknownKey: z.number().int(),
        checkpointsWitnessed: z.number().int(),
        outcomes: z.object({
          unknown: z.number().int(),
          tookEffect: z.number().int(),
          didNotTakeEffect: z.number().int(),
          unverifiable: z.number().int(),
          unresolved: z.number().int(),
          open: z.number().int(),
        }),
        lastCheckpoint: z
          .object({ seq: z.number().int(), sealedAt: z.string(), kind: z.enum(['periodic', 'retention', 'manual']), jws: z.string().nullable() })
          .nullable(),
        firstBroken: VerifyProblemSchema.nullable(),
        problems: z.array(VerifyProblemSchema),
      }),
    ),
  })
  .openapi('TransferLogVerifyReport', { example: { ok: true, rowsChecked: 120, durationMs: 14, keyId: '3f1c2a9b8d7e6f50', organizations: [] } });

export const SealedCheckpointsSchema = z
  .object({
    sealed: z.array(z.object({ organizationId: z.uuid(), seq: z.number().int(), headHash: z.string(), jws: z.string() })),
  })
  .openapi('SealedCheckpoints');

const CounterpartySchema = z.object({ platform: z.string().nullable(), account: z.string().nullable(), destination: z.string().nullable() });

export const SubjectAccessReportSchema = z
  .object({
    organizationId: z.uuid(),
    subject: z.object({ kind: z.enum(['caseId', 'eventId', 'contactId', 'personId', 'documentId']), id: z.string() }),
    generatedAt: z.string(),
    recipients: z.array(CounterpartySchema.extend({ transfers: z.number().int() })).openapi({ description: 'every distinct recipient, named individually' }),
    sources: z.array(CounterpartySchema.extend({ transfers: z.number().int() })).openapi({ description: 'every distinct source data came from' }),
    transfers: z.array(
      z.object({
        transferId: z.uuid(),
        direction: z.enum(['outbound', 'inbound']),
        operation: z.string(),
        purpose: z.string(),
        counterparty: CounterpartySchema,
        connectionId: z.string().nullable(),
        userId: z.string().nullable(),
        categories: z.array(z.string()),
        fieldNames: z.array(z.string()),
        consent: z.object({ id: z.string(), version: z.number().int().nullable() }).nullable(),
        startedAt: z.string(),
        completedAt: z.string().nullable(),
        delivery: z
          .enum(['delivered', 'received', 'failed_may_have_reached_recipient', 'outcome_unknown', 'delivered_confirmed_later', 'not_applied', 'unconfirmed'])
          .openapi({
            description:
              '`outcome_unknown`: no answer came and the provider has not been read yet (or could not be); `delivered_confirmed_later` / `not_applied`: no answer came, and reading the provider showed the write did / did not take effect; `unconfirmed`: an intent still without an outcome',
          }),
        resolution: z
          .object({ verdict: z.enum(['took_effect', 'did_not_take_effect', 'unverifiable']), at: z.string() })
          .nullable()
          .openapi({ description: 'for a transfer whose answer never came: what reading the provider showed' }),
        providerStatus: z.number().int().nullable(),
        remoteId: z.string().nullable(),
        actor: TransferActorSchema,
        payloadSha256: z.string().nullable(),
        payloadBytes: z.number().int().nullable(),
        logRowIds: z.array(z.string()),
      }),
    ),
    refusedCount: z.number().int(),
    notSentCount: z.number().int().openapi({ description: 'transfers prepared and never sent (nothing left)' }),
  })
  .openapi('SubjectAccessReport');
