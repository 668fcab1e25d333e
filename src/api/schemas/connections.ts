import { z } from '@hono/zod-openapi';
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
