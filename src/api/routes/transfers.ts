import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { recordAudit } from '../../audit/audit-log.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { isoInstant } from '../../db/ranges.ts';
import type { TransferOutcomeColumn } from '../../db/types.ts';
import { transferExportHeaders, transferExportStream } from '../../transfers/export.ts';
import {
  decodeCursor,
  listTransfers,
  SUBJECT_KINDS,
  type SubjectParam,
  type TransferFilters,
  type TransferScope,
  transferView,
} from '../../transfers/queries.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { TRANSFER_OUTCOMES, TransferSchema } from '../schemas/transfers.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * The transfer log, read by the people it is about:
 * - `GET /v1/transfers` — filtered pages, newest first (cursor pagination);
 * - `GET /v1/transfers/export?format=csv|json` — every matching row, oldest first, streamed;
 * - `GET /v1/transfers/signing-key` — the Ed25519 public key that signs checkpoints and receipts;
 * - `GET /.well-known/jwks.json` — the same key as a JWK Set, public, for auditors' JOSE tools.
 * A member sees the rows of their own connections; an administrator the whole organization; never
 * another organization's.
 */

const OUTCOMES = TRANSFER_OUTCOMES;

export const TransferFilterQuery = z.object({
  connectionId: z.uuid().optional(),
  userId: z.uuid().optional(),
  platform: z.string().min(1).max(64).optional(),
  caseId: z.string().min(1).max(200).optional(),
  eventId: z.string().min(1).max(200).optional(),
  contactId: z.string().min(1).max(200).optional(),
  personId: z.string().min(1).max(200).optional(),
  documentId: z.string().min(1).max(200).optional(),
  from: isoInstant().optional().openapi({ description: 'Inclusive lower bound of the row time' }),
  to: isoInstant().optional().openapi({ description: 'Exclusive upper bound of the row time' }),
  outcome: z
    .string()
    .regex(new RegExp(`^(${OUTCOMES.join('|')})(,(${OUTCOMES.join('|')}))*$`), `comma-separated: ${OUTCOMES.join(', ')}`)
    .optional(),
  direction: z.enum(['outbound', 'inbound']).optional(),
  purpose: z.string().min(1).max(200).optional(),
});

export type TransferFilterInput = z.infer<typeof TransferFilterQuery>;

/** Query parameters → filters; at most one subject parameter. */
export function toFilters(q: TransferFilterInput): TransferFilters {
  const subjects = (Object.keys(SUBJECT_KINDS) as SubjectParam[]).filter((k) => q[k] !== undefined);
  if (subjects.length > 1) throw new ApiError(400, 'one_subject_only', `filter by one subject at a time (got ${subjects.join(', ')})`);
  const kind = subjects[0];
  return {
    connectionId: q.connectionId,
    userId: q.userId,
    platform: q.platform,
    subject: kind ? { kind, id: q[kind]! } : undefined,
    from: q.from ? new Date(q.from) : undefined,
    to: q.to ? new Date(q.to) : undefined,
    outcomes: q.outcome ? (q.outcome.split(',') as TransferOutcomeColumn[]) : undefined,
    direction: q.direction,
    purpose: q.purpose,
  };
}

/** The organization always; the user too unless an administrator asks. */
export function scopeOf(c: Context<AppEnv>): TransferScope {
  const p = c.get('principal');
  if (p?.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
  return p.role === 'admin' ? { organizationId: p.organizationId } : { organizationId: p.organizationId, userId: p.userId };
}

export const transferRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/transfers',
      operationId: 'listTransfers',
      description: 'Transfer-log rows, newest first, paged with `cursor`: members see their own connections, administrators the organization.',
      tags: ['Transfers'],
      summary: 'Transfer-log rows, newest first (members: their own connections; admins: the organization)',
      ...auth,
      request: {
        query: TransferFilterQuery.extend({
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().max(100).optional(),
        }),
      },
      responses: {
        200: {
          description: 'A page; pass `nextCursor` as `cursor` for the next one',
          content: { 'application/json': { schema: z.object({ items: z.array(TransferSchema), nextCursor: z.string().nullable() }) } },
        },
        400: err('`validation_failed`, `invalid_cursor`, `one_subject_only`'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const beforeSeq = q.cursor ? decodeCursor(q.cursor) : null;
      if (q.cursor && beforeSeq === null) throw new ApiError(400, 'invalid_cursor', 'the cursor is not one this API returned');
      const page = await listTransfers(services.db, { scope: scopeOf(c), filters: toFilters(q), limit: q.limit, beforeSeq });
      return c.json({ items: page.items.map(transferView), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/transfers/export',
      operationId: 'exportTransfers',
      description: 'Every matching transfer-log row, oldest first, streamed as CSV or JSON; the export is audited.',
      tags: ['Transfers'],
      summary: 'Export every matching row, oldest first, as CSV or JSON (streamed)',
      ...auth,
      request: { query: TransferFilterQuery.extend({ format: z.enum(['csv', 'json']).default('json') }) },
      responses: {
        200: {
          description: 'CSV (RFC 4180, header row) or a JSON array of transfers',
          content: { 'text/csv': { schema: z.string() }, 'application/json': { schema: z.array(TransferSchema) } },
        },
        400: err('`validation_failed`, `one_subject_only`'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const scope = scopeOf(c);
      const filters = toFilters(q);
      const principal = c.get('principal') as UserPrincipal;
      await recordAudit(services.db, {
        organizationId: scope.organizationId,
        actor: { kind: 'user', userId: principal.userId },
        action: 'transfers.export',
        target: scope.userId ? `user:${scope.userId}` : 'organization',
        details: { format: q.format, filters: { ...q, format: undefined } },
      });
      return new Response(transferExportStream(services.db, services.logger, { scope, filters, format: q.format }), {
        status: 200,
        headers: transferExportHeaders(q.format),
      });
    },
  );
};
