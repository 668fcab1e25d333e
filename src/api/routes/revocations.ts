import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { connectors } from '../../../connectors/registry.ts';
import { requireAdmin, sessionAuth } from '../../auth/sessions.ts';
import { setPlatformEnabled } from '../../revocation/platform-switch.ts';
import { enqueueRevocation } from '../../revocation/queue.ts';
import { loadRevocation, receiptEnvelope } from '../../revocation/receipt.ts';
import {
  adminRevocation,
  disconnectOwnConnection,
  RevocationError,
  type RevocationRequester,
  type RevocationTarget,
  requestRevocation,
} from '../../revocation/service.ts';
import type { ConnectionSteps } from '../../revocation/steps.ts';
import { recordSecurityEvent } from '../../security/events.ts';
import type { Services } from '../../services.ts';
import { getSigningKey } from '../../transfers/signing.ts';
import { clientAddress } from '../client-address.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { superAdminAuth } from '../middleware/super-admin-auth.ts';
import { ErrorSchema } from '../schemas.ts';
import { SigningJwkSchema } from './transfers.ts';

const TargetSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('connection'), connectionId: z.uuid() }),
    z.object({ kind: z.literal('user'), userId: z.uuid() }),
    z.object({ kind: z.literal('organization') }),
    z.object({ kind: z.literal('platform'), platform: z.string().min(1).max(64) }),
  ])
  .openapi('RevocationTarget');

const RevocationRequestSchema = z
  .object({
    target: TargetSchema,
    reason: z.string().trim().min(1).max(1000),
    purgeRemote: z.boolean().default(false),
  })
  .openapi('RevocationRequest');

const AcceptedSchema = z
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

const RevocationStepSchema = z
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

/** A revocation receipt's statement (see `RevocationReceipt`): what was revoked, every step, effectiveAt and the counts. */
const ReceiptPayloadSchema = z
  .record(z.string(), z.unknown())
  .openapi({ description: 'the receipt: what was revoked, every step, effectiveAt and the counts' });

const RevokedConnectionSchema = z
  .object({
    connectionId: z.uuid(),
    platform: z.string(),
    externalAccount: z.string().nullable(),
    userId: z.string(),
    steps: z.array(RevocationStepSchema),
  })
  .openapi('RevokedConnection');

const InFlightCallSchema = z
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
      target: z.record(z.string(), z.unknown()),
      reason: z.string(),
      purgeRemote: z.boolean(),
      status: z.enum(['in_progress', 'completed', 'completed_with_calls_in_flight', 'completed_with_errors']).openapi({
        description:
          '`completed_with_calls_in_flight`: every step succeeded, but calls that had left before the revocation had no answer by its drain deadline (see callsOutcomeUnknown)',
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
          'calls that had left before the revocation and had no answer by its drain deadline, by transfer id; no request left after the response. The pipeline resolves each before the provider-side steps.',
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

/** Shapes a stored revocation for the API: progress always, the signed receipt once complete. */
async function viewRevocation(services: Services, row: NonNullable<Awaited<ReturnType<typeof loadRevocation>>>) {
  const steps = row.steps as Array<{ steps: Array<{ result: string }> }>;
  const all = steps.flatMap((c) => c.steps);
  return {
    id: row.id,
    organizationId: row.organization_id,
    target: row.target,
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
    receipt: receiptEnvelope(row),
    publicKey: row.receipt ? getSigningKey(services.config).publicKeyPem : null,
    publicKeyJwk: row.receipt ? getSigningKey(services.config).publicJwk : null,
  };
}

function accepted(result: Awaited<ReturnType<typeof requestRevocation>>) {
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

async function revokeOrThrow(services: Services, params: Parameters<typeof requestRevocation>[1]) {
  try {
    return await requestRevocation(services, params);
  } catch (err) {
    if (err instanceof RevocationError) throw new ApiError(404, err.code, err.message);
    throw err;
  }
}

function requesterOf(c: { get(k: 'principal'): AppEnv['Variables']['principal'] }): RevocationRequester {
  const p = c.get('principal');
  return p.kind === 'user' ? { kind: 'user', userId: p.userId } : { kind: 'super_admin' };
}

const requestContext = (c: Context<AppEnv>) => ({
  ip: clientAddress(c),
  userAgent: c.req.header('user-agent') ?? null,
});

/** Admin revocations, user disconnect, platform switches and the super-admin platform revocation. */
export const registerRevocationRoutes: RouteModule = (app, services) => {
  const session = sessionAuth(services.sessions);
  app.use('/v1/admin/revocations', session, requireAdmin());
  app.use('/v1/admin/revocations/*', session, requireAdmin());
  app.use('/v1/admin/platforms', session, requireAdmin());
  app.use('/v1/admin/platforms/*', session, requireAdmin());
  app.use('/v1/super-admin/*', superAdminAuth());

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/revocations',
      tags: ['revocation'],
      summary: 'Revoke a connection, a user, the organization or a platform',
      description:
        'Before answering, the target connections are revoked, their consents withdrawn, revocation epochs bumped and in-flight transfers drained: nothing leaves after the response. Clean-up (jobs, provider tokens, stored ciphertext, optional remote purge) continues asynchronously; poll the revocation for progress and the signed receipt.',
      security: [{ session: [] }],
      request: { body: { content: { 'application/json': { schema: RevocationRequestSchema } }, required: true } },
      responses: {
        202: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Revoked; clean-up in progress' },
        200: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Already revoked; nothing changed' },
        400: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Invalid request' },
        403: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Not an administrator' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Target not found in this organization' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const body = c.req.valid('json');
      let result: Awaited<ReturnType<typeof adminRevocation>>;
      try {
        result = await adminRevocation(services, {
          organizationId: p.organizationId,
          adminUserId: p.userId,
          target: body.target as RevocationTarget,
          reason: body.reason,
          purgeRemote: body.purgeRemote,
          ...requestContext(c),
          enqueue: (id) => enqueueRevocation(services, id),
        });
      } catch (err) {
        if (err instanceof RevocationError) throw new ApiError(404, err.code, err.message);
        throw err;
      }
      return c.json(accepted(result), result.created ? 202 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/revocations/{id}',
      tags: ['revocation'],
      summary: 'Progress of a revocation and, when complete, its signed receipt',
      security: [{ session: [] }],
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        200: { content: { 'application/json': { schema: RevocationViewSchema } }, description: 'The revocation' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Not found' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const row = await loadRevocation(services.db, c.req.valid('param').id, p.organizationId);
      if (!row) throw new ApiError(404, 'not_found', 'revocation not found');
      return c.json({ revocation: await viewRevocation(services, row) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/revocations',
      tags: ['revocation'],
      summary: "The organization's revocations, newest first",
      security: [{ session: [] }],
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }) },
      responses: {
        200: { content: { 'application/json': { schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) } }, description: 'Revocations' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const rows = await services.db
        .selectFrom('revocations')
        .select(['id', 'target', 'reason', 'status', 'purge_remote', 'created_at', 'completed_at', 'connection_ids'])
        .where('organization_id', '=', p.organizationId)
        .orderBy('created_at', 'desc')
        .limit(c.req.valid('query').limit)
        .execute();
      return c.json(
        {
          items: rows.map((r) => ({
            id: r.id,
            target: r.target,
            reason: r.reason,
            status: r.status,
            purgeRemote: r.purge_remote,
            connections: (r.connection_ids as string[]).length,
            requestedAt: r.created_at.toISOString(),
            completedAt: r.completed_at?.toISOString() ?? null,
          })),
        },
        200,
      );
    },
  );

  // A user disconnects their own connection: the same pipeline, scoped to their connections.
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/connections/{id}',
      tags: ['connections'],
      summary: 'Disconnect one of your connections (revokes it, withdraws its consent)',
      security: [{ session: [] }],
      middleware: [session] as const,
      request: {
        params: z.object({ id: z.uuid() }),
        query: z.object({ purgeRemote: z.enum(['true', 'false']).default('false') }),
      },
      responses: {
        202: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Disconnected; clean-up in progress' },
        200: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Already disconnected' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'No such connection of yours' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
      const { id } = c.req.valid('param');
      let result: Awaited<ReturnType<typeof disconnectOwnConnection>>;
      try {
        result = await disconnectOwnConnection(services, {
          organizationId: p.organizationId,
          userId: p.userId,
          connectionId: id,
          purgeRemote: c.req.valid('query').purgeRemote === 'true',
          enqueue: (rid) => enqueueRevocation(services, rid),
        });
      } catch (err) {
        if (err instanceof RevocationError) throw new ApiError(404, 'not_found', 'connection not found');
        throw err;
      }
      return c.json(accepted(result), result.created ? 202 : 200);
    },
  );

  const PlatformSchema = z
    .object({ platform: z.string(), name: z.string(), enabled: z.boolean() })
    .openapi('Platform', { description: 'A platform and whether this organization allows it' });

  const PlatformSwitchResultSchema = z
    .object({
      platform: z.string(),
      enabled: z.boolean(),
      revocationId: z.uuid().optional().openapi({ description: 'When existing connections were revoked' }),
      connectionsRevoked: z.number().int().optional(),
      connectionsPaused: z.number().int().optional().openapi({ description: 'When existing connections were paused' }),
    })
    .openapi('PlatformSwitchResult');

  const PlatformSwitchSchema = z
    .object({
      enabled: z.boolean(),
      existingConnections: z.enum(['revoke', 'pause']).default('pause'),
      reason: z.string().trim().min(1).max(1000).default('platform disabled by an administrator'),
    })
    .openapi('PlatformSwitch');

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/platforms',
      tags: ['revocation'],
      summary: 'Platforms and whether this organization allows them',
      security: [{ session: [] }],
      responses: { 200: { content: { 'application/json': { schema: z.object({ items: z.array(PlatformSchema) }) } }, description: 'Platforms' } },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const org = await services.db.selectFrom('organizations').select('settings').where('id', '=', p.organizationId).executeTakeFirstOrThrow();
      const disabled = new Set(org.settings.disabledPlatforms ?? []);
      return c.json({ items: connectors.map((k) => ({ platform: k.manifest.id, name: k.manifest.displayName, enabled: !disabled.has(k.manifest.id) })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/admin/platforms/{platform}',
      tags: ['revocation'],
      summary: 'Enable or disable a platform for the organization',
      description: 'Disabling stops new connections at once; existing connections are revoked (through the revocation pipeline) or paused, as chosen.',
      security: [{ session: [] }],
      request: {
        params: z.object({ platform: z.string().min(1).max(64) }),
        body: { content: { 'application/json': { schema: PlatformSwitchSchema } }, required: true },
      },
      responses: {
        200: { content: { 'application/json': { schema: PlatformSwitchResultSchema } }, description: 'Switched' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Unknown platform' },
      },
    }),
    async (c) => {
      const p = c.get('principal');
      if (p.kind !== 'user') throw new ApiError(403, 'admin_required', 'this needs an organization administrator');
      const { platform } = c.req.valid('param');
      if (!connectors.some((k) => k.manifest.id === platform)) throw new ApiError(404, 'unknown_platform', `no platform named ${platform}`);
      const body = c.req.valid('json');
      const result = await setPlatformEnabled(services, {
        organizationId: p.organizationId,
        platform,
        enabled: body.enabled,
        existingConnections: body.existingConnections,
        reason: body.reason,
        requestedBy: requesterOf(c),
        enqueue: (rid) => enqueueRevocation(services, rid),
      });
      return c.json(result, 200);
    },
  );

  const SuperRevocationSchema = z
    .object({ platform: z.string().min(1).max(64), reason: z.string().trim().min(1).max(1000), purgeRemote: z.boolean().default(false) })
    .openapi('SuperAdminRevocationRequest');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/super-admin/revocations',
      tags: ['revocation'],
      summary: 'Revoke a platform for every organization (deployment super administrator)',
      security: [{ apiKey: [] }],
      request: { body: { content: { 'application/json': { schema: SuperRevocationSchema } }, required: true } },
      responses: {
        202: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Revoked everywhere; clean-up in progress' },
        200: { content: { 'application/json': { schema: AcceptedSchema } }, description: 'Already revoked' },
        401: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Bad credential' },
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const result = await revokeOrThrow(services, {
        organizationId: null,
        target: { kind: 'platform_all_organizations', platform: body.platform },
        reason: body.reason,
        purgeRemote: body.purgeRemote,
        requestedBy: { kind: 'super_admin' },
        enqueue: (rid) => enqueueRevocation(services, rid),
      });
      await recordSecurityEvent(services.db, {
        organizationId: null,
        kind: 'revocation.requested',
        outcome: 'success',
        reason: body.reason,
        ...requestContext(c),
        details: { revocationId: result.revocationId, platform: body.platform, scope: 'all_organizations' },
      });
      return c.json(accepted(result), result.created ? 202 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/super-admin/revocations/{id}',
      tags: ['revocation'],
      summary: 'Progress and receipt of a deployment-wide revocation',
      security: [{ apiKey: [] }],
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        200: { content: { 'application/json': { schema: RevocationViewSchema } }, description: 'The revocation' },
        404: { content: { 'application/json': { schema: ErrorSchema } }, description: 'Not found' },
      },
    }),
    async (c) => {
      const row = await loadRevocation(services.db, c.req.valid('param').id);
      if (!row) throw new ApiError(404, 'not_found', 'revocation not found');
      return c.json({ revocation: await viewRevocation(services, row) }, 200);
    },
  );
};
