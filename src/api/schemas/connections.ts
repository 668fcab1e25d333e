import { z } from '@hono/zod-openapi';
import { createConnectionSchema } from '../../connections/service.ts';
import { CaseScopeSchema } from './consents.ts';

/**
 * The last or running sync's progress (connections.sync_progress). Every field is optional: a run
 * waiting before its first snapshot shows only `resumesAt`.
 */
export const SyncProgressSchema = z
  .object({
    state: z.enum(['running', 'idle', 'waiting', 'failed']),
    reason: z.string().openapi({ description: 'What started the run: connect, change, full, settings, consent…' }),
    full: z.boolean().openapi({ description: 'A full reconcile (reads the provider too)' }),
    startedAt: z.string(),
    finishedAt: z.string(),
    planned: z.object({ create: z.number().int(), update: z.number().int(), delete: z.number().int() }),
    done: z.object({
      created: z.number().int(),
      updated: z.number().int(),
      deleted: z.number().int(),
      failed: z.number().int(),
      blocked: z.number().int(),
    }),
    unchanged: z.number().int(),
    skipped: z.number().int(),
    remaining: z.number().int(),
    providerCalls: z.number().int(),
    jobId: z.string(),
    resumesAt: z.string().openapi({ description: 'When a delayed run resumes' }),
    message: z.string(),
  })
  .partial()
  .openapi('SyncProgress');

export const ConnectionSchema = z
  .object({
    id: z.uuid(),
    platform: z.string(),
    platformName: z.string(),
    status: z.enum(['pending', 'active', 'reauth_required', 'paused', 'revoked']),
    userId: z.uuid(),
    account: z.string().nullable(),
    categories: z.array(z.string()),
    caseScope: CaseScopeSchema.nullable(),
    consent: z.object({ id: z.uuid(), version: z.number().int(), grantedAt: z.string(), method: z.string() }).nullable(),
    settings: z.record(z.string(), z.unknown()),
    destination: z.string().nullable(),
    lastSyncAt: z.string().nullable(),
    lastFullSyncAt: z.string().nullable(),
    counts: z.object({ synced: z.number().int(), pending: z.number().int(), errors: z.number().int() }),
    progress: SyncProgressSchema.nullable(),
    lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
    actions: z.array(z.object({ action: z.string(), method: z.literal('POST'), href: z.string(), description: z.string() })),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Connection');

/** `{ id }` of `/v1/connections/{id}` routes. */
export const ConnectionIdParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) });

/** `{ connection }`: the answer of the routes that read or change one connection. */
export const ConnectionEnvelopeSchema = z.object({ connection: ConnectionSchema });

/** The body of `POST /v1/connections` (its rules are the connections module's own schema). */
export const ConnectionCreateSchema = createConnectionSchema.openapi('ConnectionCreate', {
  description:
    'platform (e.g. google_calendar), consented categories, case scope, settings (Google: calendarId of an existing calendar, or calendarName of a new one; deadlineReminders; driftPolicy restore|leave)',
});

/** Where to send the user to authorize (or re-authorize) a connection, and until when the link works. */
export const AuthorizationSchema = z.object({ authorizationUrl: z.string(), authorizationExpiresAt: z.string() });

/** The answer of `POST /v1/connections`: the pending connection and where to send the user. */
export const ConnectionStartedSchema = z.object({ connection: ConnectionSchema, authorizationUrl: z.string(), authorizationExpiresAt: z.string() });

/** What the provider's redirect carries back (`/v1/connections/oauth/callback`). */
export const OAuthCallbackQuery = z.object({
  state: z.string().max(512).optional(),
  code: z.string().max(4096).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(2000).optional(),
  scope: z.string().max(4096).optional(),
});

/** `PATCH /v1/connections/{id}`: free-form here, validated by the connection's platform. */
export const ConnectionSettingsUpdateSchema = z.object({ settings: z.record(z.string(), z.unknown()) });

/** The optional body of `POST /v1/connections/{id}/reconnect`. */
export const ReconnectRequestSchema = z.object({ loginHint: z.string().max(320).optional() });
