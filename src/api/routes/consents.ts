import { createRoute } from '@hono/zod-openapi';
import type { UserPrincipal } from '../../auth/principal.ts';
import { changeConsent } from '../../consent/change.ts';
import { consentHistoryOf, currentConsentOf, withdrawConnectionConsent } from '../../consent/connection-consents.ts';
import { CONSENT_CURSOR } from '../../consent/service.ts';
import { clientAddress } from '../client-address.ts';
import { consentCategoriesView, consentView, withdrawalView } from '../consent-view.ts';
import type { RouteModule } from '../env.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { decodeListCursor, pageQuery } from '../pagination.ts';
import {
  ConsentCategoriesSchema,
  ConsentConnectionParams,
  ConsentEnvelopeSchema,
  ConsentGrantSchema,
  ConsentPageSchema,
  ConsentWithdrawalSchema,
} from '../schemas/consents.ts';
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

export const consentRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };
  const principalOf = (c: { get(key: 'principal'): unknown }) => c.get('principal') as UserPrincipal;

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
        200: { description: 'The registry', content: { 'application/json': { schema: ConsentCategoriesSchema } } },
        401: err('Not signed in'),
      },
    }),
    async (c) => c.json(consentCategoriesView(), 200),
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
      request: {
        headers: IdempotencyHeaders,
        params: ConsentConnectionParams,
        body: { required: true, content: { 'application/json': { schema: ConsentGrantSchema } } },
      },
      responses: {
        201: { description: 'Granted', content: { 'application/json': { schema: ConsentEnvelopeSchema } } },
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
        principal: principalOf(c),
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
      request: { params: ConsentConnectionParams },
      responses: {
        200: { description: 'Current consent', content: { 'application/json': { schema: ConsentEnvelopeSchema } } },
        401: err('Not signed in'),
        404: err('`not_found` (connection) or `no_current_consent`'),
      },
    }),
    async (c) => {
      const consent = await currentConsentOf(services, { principal: principalOf(c), connectionId: c.req.valid('param').id });
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
      request: { params: ConsentConnectionParams, query: pageQuery() },
      responses: {
        200: { description: 'A page of the history', content: { 'application/json': { schema: ConsentPageSchema } } },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('Not signed in'),
        404: err('No such connection'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const cursor = decodeListCursor(q.cursor, CONSENT_CURSOR);
      const page = await consentHistoryOf(services, { principal: principalOf(c), connectionId: c.req.valid('param').id, limit: q.limit, cursor });
      return c.json({ items: page.items.map(consentView), nextCursor: page.nextCursor }, 200);
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
      request: { params: ConsentConnectionParams },
      responses: {
        200: { description: 'Withdrawn (or nothing was current)', content: { 'application/json': { schema: ConsentWithdrawalSchema } } },
        401: err('Not signed in'),
        403: err('`csrf_token_invalid`, `not_connection_owner`'),
        404: err('No such connection of yours'),
      },
    }),
    async (c) => {
      const withdrawal = await withdrawConnectionConsent(services, { principal: principalOf(c), connectionId: c.req.valid('param').id });
      return c.json(withdrawalView(withdrawal), 200);
    },
  );
};
