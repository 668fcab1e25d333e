import { createRoute, z } from '@hono/zod-openapi';
import { connectors } from '../../../connectors/registry.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { CATEGORIES, CATEGORY_IDS } from '../../consent/categories.ts';
import { changeConsent } from '../../consent/change.ts';
import { CURRENT_POLICY_VERSION, consentHistory, currentConsent, withdrawConsents } from '../../consent/service.ts';
import { INT4_MAX } from '../../db/ranges.ts';
import { clientAddress } from '../client-address.ts';
import { connectionFor } from '../connection-access.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { CaseScopeSchema, ConsentPageSchema, ConsentSchema, consentView } from '../schemas/consents.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * Consent API. A signed-in user grants, reads and withdraws the consent of their own connections;
 * administrators may read (not change) every connection's consent in their organization. Another
 * organization's connection, or a colleague's for a member, answers 404.
 *
 * - `GET    /v1/consent-categories`                          the registry, for the consent screen
 * - `POST   /v1/connections/{id}/consents`                   grant a new version
 * - `GET    /v1/connections/{id}/consent`                    the current version
 * - `GET    /v1/connections/{id}/consents`                   every version, newest first
 * - `DELETE /v1/connections/{id}/consent`                    withdraw, effective before the answer
 * - `GET    /v1/connections/{id}/consents/{version}/receipt` Kantara-shaped receipt, signed
 */

const CategoryIdSchema = z.enum(CATEGORY_IDS);

const GrantSchema = z
  .object({
    categories: z.array(CategoryIdSchema).min(1).max(CATEGORY_IDS.length),
    caseScope: CaseScopeSchema.default({ kind: 'all' }),
    attestations: z
      .record(z.string(), z.string().max(500))
      .default({})
      .openapi({ description: 'Per category that requires it, the attestation text, word for word' }),
    policyVersion: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: `The consent policy version shown to the user (current: ${CURRENT_POLICY_VERSION})` }),
  })
  .openapi('ConsentGrant');

const IdParams = z.object({ id: z.uuid() });
// A version beyond the integer column's range cannot exist: a 400, not a database error.
const _VersionParams = z.object({ id: z.uuid(), version: z.coerce.number().int().positive().max(INT4_MAX) });

export const consentRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/consent-categories',
      operationId: 'listConsentCategories',
      description: 'The data categories a user can consent to, per platform, with the fields each carries and any attestation it requires.',
      tags: ['Consent'],
      summary: 'The data categories a user can consent to, with their fields and any required attestation',
      ...auth,
      responses: {
        200: {
          description: 'The registry',
          content: {
            'application/json': {
              schema: z.object({
                policyVersion: z.string(),
                categories: z.array(
                  z.object({
                    id: z.string(),
                    title: z.string(),
                    description: z.string(),
                    direction: z.enum(['outbound', 'inbound']),
                    fields: z.array(z.string()),
                    attestation: z.string().nullable(),
                    platforms: z.array(z.string()),
                  }),
                ),
              }),
            },
          },
        },
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      return c.json(
        {
          policyVersion: CURRENT_POLICY_VERSION,
          categories: CATEGORY_IDS.map((id) => ({
            id,
            title: CATEGORIES[id].title,
            description: CATEGORIES[id].description,
            direction: CATEGORIES[id].direction,
            fields: [...CATEGORIES[id].fields],
            attestation: CATEGORIES[id].attestation ?? null,
            platforms: connectors.filter((k) => k.manifest.categories.includes(id)).map((k) => k.manifest.id),
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/connections/{id}/consents',
      operationId: 'grantConsent',
      description: 'Grants a new consent version for a connection; the previous version becomes history and a reconcile is queued.',
      tags: ['Consent'],
      summary: 'Grant a new consent version (the previous one, if any, becomes history)',
      ...auth,
      middleware: [...auth.middleware, idempotency()],
      request: { headers: IdempotencyHeaders, params: IdParams, body: { required: true, content: { 'application/json': { schema: GrantSchema } } } },
      responses: {
        201: { description: 'Granted', content: { 'application/json': { schema: z.object({ consent: ConsentSchema }) } } },
        400: err('`validation_failed`, `attestation_required`, `category_not_supported`, `unknown_case`'),
        401: err('Not signed in'),
        403: err('`csrf_token_invalid`, `not_connection_owner`'),
        404: err('No such connection of yours'),
        409: err('`connection_revoked`, `policy_version_outdated`'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const consent = await changeConsent(services, {
        principal: c.get('principal') as UserPrincipal,
        connectionId: id,
        categories: body.categories,
        caseScope: body.caseScope,
        // Granted through the API: no consent screen was shown by us, whatever the client claims.
        method: 'api',
        attestations: body.attestations,
        policyVersion: body.policyVersion,
        ip: clientAddress(c),
        userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
      });
      return c.json({ consent: consentView(consent) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/connections/{id}/consent',
      operationId: 'getCurrentConsent',
      description: 'The consent in force for a connection.',
      tags: ['Consent'],
      summary: 'The current consent of a connection',
      ...auth,
      request: { params: IdParams },
      responses: {
        200: { description: 'Current consent', content: { 'application/json': { schema: z.object({ consent: ConsentSchema }) } } },
        401: err('Not signed in'),
        404: err('`not_found` (connection) or `no_current_consent`'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await connectionFor(c, services, id, 'read');
      const consent = await currentConsent(services.db, id);
      if (!consent) throw new ApiError(404, 'no_current_consent', 'this connection has no current consent (never granted, or withdrawn)');
      return c.json({ consent: consentView(consent) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/connections/{id}/consents',
      operationId: 'listConsents',
      description: 'Every consent version of a connection, newest first, paged with `cursor`.',
      tags: ['Consent'],
      summary: 'Every consent version of a connection, newest first',
      ...auth,
      request: { params: IdParams },
      responses: {
        200: { description: 'History, in one page', content: { 'application/json': { schema: ConsentPageSchema } } },
        401: err('Not signed in'),
        404: err('No such connection'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await connectionFor(c, services, id, 'read');
      return c.json({ items: (await consentHistory(services.db, id)).map(consentView), nextCursor: null }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/connections/{id}/consent',
      operationId: 'withdrawConsent',
      description: 'Withdraws the current consent: no transfer starts after this answers, and what was shared is cleaned up by the revocation pipeline.',
      tags: ['Consent'],
      summary: 'Withdraw the current consent; no transfer starts after this answers',
      ...auth,
      request: { params: IdParams },
      responses: {
        200: {
          description: 'Withdrawn (or nothing was current)',
          content: {
            'application/json': {
              schema: z.object({ withdrawn: z.boolean(), withdrawnConsentIds: z.array(z.uuid()), effectiveAt: z.string() }),
            },
          },
        },
        401: err('Not signed in'),
        403: err('`csrf_token_invalid`, `not_connection_owner`'),
        404: err('No such connection of yours'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await connectionFor(c, services, id, 'write');
      const principal = c.get('principal') as UserPrincipal;
      const ids = await withdrawConsents(services, { connectionIds: [id], actor: principal.userId });
      return c.json({ withdrawn: ids.length > 0, withdrawnConsentIds: ids, effectiveAt: new Date().toISOString() }, 200);
    },
  );
};
