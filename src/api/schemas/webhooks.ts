import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/events.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { errorResponse as err } from '../schemas.ts';

/** Webhook endpoints and deliveries as the admin API answers them, and what its two route files share. */

export const ID_EXAMPLE = '0b9d3c1e-5f7a-4c2b-9e8d-1a2b3c4d5e6f';

export const EventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES as [string, ...string[]]).openapi('WebhookEventType', { example: 'connection.active' });

export const EndpointSchema = z
  .object({
    id: z.uuid(),
    url: z.string().openapi({ example: 'https://app.example.com/hooks/casebridge' }),
    description: z.string().nullable(),
    events: z.array(EventTypeSchema).nullable().openapi({ description: 'Event types delivered; null = every type' }),
    previousSecretExpiresAt: z.string().nullable().openapi({ description: 'Until when the previous secret still signs, after a rotation' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookEndpoint', {
    example: {
      id: ID_EXAMPLE,
      url: 'https://app.example.com/hooks/casebridge',
      description: 'case-management backend',
      events: null,
      previousSecretExpiresAt: null,
      createdAt: '2026-12-04T10:00:00.000Z',
      updatedAt: '2026-12-04T10:00:00.000Z',
    },
  });

export const SecretAnswerSchema = z
  .object({
    endpoint: EndpointSchema,
    secret: z.string().openapi({ description: 'The signing secret (`whsec_…`). Shown only in this answer; store it now.' }),
  })
  .openapi('WebhookEndpointWithSecret');

export const DeliverySchema = z
  .object({
    id: z.uuid(),
    eventId: z.uuid().openapi({ description: 'The event id (`Casebridge-Webhook-Id`): the same on every attempt and replay' }),
    eventType: EventTypeSchema,
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled']),
    replayOf: z.uuid().nullable(),
    attemptCount: z.number().int(),
    lastAttemptAt: z.string().nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    deliveredAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('WebhookDelivery', {
    example: {
      id: ID_EXAMPLE,
      eventId: '7c1f0a4e-2b3d-4e5f-8a9b-0c1d2e3f4a5b',
      eventType: 'connection.reauth_required',
      status: 'pending',
      replayOf: null,
      attemptCount: 2,
      lastAttemptAt: '2026-12-04T10:00:30.000Z',
      lastStatusCode: 500,
      lastError: 'the endpoint answered 500',
      nextAttemptAt: '2026-12-04T10:01:10.000Z',
      deliveredAt: null,
      createdAt: '2026-12-04T10:00:00.000Z',
    },
  });

export const page = (item: z.ZodType, name: string) =>
  z
    .object({ items: z.array(item), nextCursor: z.string().nullable().openapi({ description: 'Pass as `cursor` for the next page; null on the last' }) })
    .openapi(name);

export const EndpointIdParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' }, example: ID_EXAMPLE }) });
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
};

export const common = {
  401: err('`unauthenticated`'),
  403: err('`admin_required`, `csrf_token_invalid`'),
};

export function organizationOf(c: Context<AppEnv>): { organizationId: string; userId: string } {
  const p = c.get('principal');
  if (p?.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
  return { organizationId: p.organizationId, userId: p.userId };
}
