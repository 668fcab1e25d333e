import { createRoute, z } from '@hono/zod-openapi';
import { recordAudit } from '../../audit/audit-log.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { sealCheckpoints } from '../../transfers/checkpoints.ts';
import { SUBJECT_KINDS, type SubjectParam, subjectAccessReport } from '../../transfers/queries.ts';
import { verifyTransferLog } from '../../transfers/verify.ts';
import type { RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { requireAdmin, sessionAuth } from '../middleware/session-auth.ts';
import { SealedCheckpointsSchema, SubjectAccessReportSchema, VerifyReportSchema } from '../schemas/transfers.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * Administrator views of the transfer log, always limited to the administrator's organization:
 * - `GET  /v1/admin/transfers/verify`      recompute the hash chain and checkpoint signatures;
 * - `POST /v1/admin/transfers/checkpoints` seal the chain now (the maintenance job does it periodically);
 * - `GET  /v1/admin/subject-access`        access-request report for one data subject.
 */

const SubjectQuery = z.object({
  caseId: z.string().min(1).max(200).optional(),
  contactId: z.string().min(1).max(200).optional(),
  personId: z.string().min(1).max(200).optional(),
  eventId: z.string().min(1).max(200).optional(),
  documentId: z.string().min(1).max(200).optional(),
});

export const adminTransferRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions), requireAdmin()], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/transfers/verify',
      operationId: 'verifyTransferLog',
      description:
        "Organization administrators only. Recomputes the organization's transfer-log hash chain and checkpoint signatures and names the first broken row, if any; audited.",
      tags: ['Transfers (admin)'],
      summary: 'Recompute the organization’s transfer-log hash chain and checkpoint signatures; names the first broken row',
      ...auth,
      responses: {
        200: {
          description: 'Verification report (`ok: false` with `firstBroken` when tampering is detected)',
          content: { 'application/json': { schema: VerifyReportSchema } },
        },
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const report = await verifyTransferLog(services, { organizationId: p.organizationId });
      const org = report.organizations[0];
      await recordAudit(services.db, {
        organizationId: p.organizationId,
        actor: { kind: 'user', userId: p.userId },
        action: 'transfer_log.verify',
        target: 'transfer_log',
        details: {
          ok: report.ok,
          rows: report.rowsChecked,
          firstBroken: org?.firstBroken ? { id: org.firstBroken.id, seq: org.firstBroken.seq, kind: org.firstBroken.kind } : null,
        },
      });
      return c.json({ ...report }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/transfers/checkpoints',
      operationId: 'createTransferCheckpoint',
      description: "Organization administrators only. Seals the organization's chain now with a signed checkpoint.",
      tags: ['Transfers (admin)'],
      summary: 'Seal the organization’s chain now with a signed checkpoint',
      ...auth,
      middleware: [...auth.middleware, idempotency()],
      request: { headers: IdempotencyHeaders },
      responses: {
        200: {
          description: 'What was sealed (nothing when the head did not move since the last checkpoint)',
          content: { 'application/json': { schema: SealedCheckpointsSchema } },
        },
        401: err('Not signed in'),
        403: err('`admin_required`, `csrf_token_invalid`'),
        409: err('`chain_head_mismatch`: the chain head does not match its row; run verify'),
      },
    }),
    async (c) => {
      const p = c.get('principal') as UserPrincipal;
      const result = await sealCheckpoints(services, { organizationId: p.organizationId, kind: 'manual' });
      if (result.refused.length) {
        throw new ApiError(409, 'chain_head_mismatch', 'the chain head does not match its row; run GET /v1/admin/transfers/verify', result.refused);
      }
      await recordAudit(services.db, {
        organizationId: p.organizationId,
        actor: { kind: 'user', userId: p.userId },
        action: 'transfer_log.seal',
        target: 'transfer_log',
        details: { sealed: result.sealed },
      });
      return c.json({ sealed: result.sealed }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/subject-access',
      operationId: 'getSubjectAccessReport',
      description:
        'Organization administrators only. Every transfer that carried data about one data subject, recipients named individually (GDPR Art. 15); audited.',
      tags: ['Transfers (admin)'],
      summary: 'Every transfer that carried data about one data subject, recipients named individually (GDPR Art. 15)',
      ...auth,
      request: { query: SubjectQuery },
      responses: {
        200: {
          description: 'Access-request report',
          content: { 'application/json': { schema: SubjectAccessReportSchema } },
        },
        400: err('`subject_required`: exactly one of caseId, contactId, personId, eventId, documentId'),
        401: err('Not signed in'),
        403: err('`admin_required`'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const given = (Object.keys(SUBJECT_KINDS) as SubjectParam[]).filter((k) => q[k] !== undefined);
      if (given.length !== 1) {
        throw new ApiError(400, 'subject_required', 'give exactly one of caseId, contactId, personId, eventId, documentId');
      }
      const kind = given[0]!;
      const p = c.get('principal') as UserPrincipal;
      const report = await subjectAccessReport(services.db, { organizationId: p.organizationId, subject: { kind, id: q[kind]! } });
      await recordAudit(services.db, {
        organizationId: p.organizationId,
        actor: { kind: 'user', userId: p.userId },
        action: 'subject_access.report',
        target: `${kind}:${q[kind]}`,
        details: { transfers: report.transfers.length, recipients: report.recipients.length },
      });
      return c.json({ ...report }, 200);
    },
  );
};
