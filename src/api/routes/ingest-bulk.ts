import { createRoute, z } from '@hono/zod-openapi';
import type { IngestCommand, ItemOutcome } from '../../cases/ingest.ts';
import { guessMimeType } from '../../cases/rows.ts';
import { type BulkItem, bulkDataSchemas, bulkItemSchema, ENTITY_TYPES } from '../../cases/schemas.ts';
import type { Services } from '../../services.ts';
import type { RouteModule } from '../env.ts';
import { ApiError, errorBody } from '../errors.ts';
import { ingest, organizationOf } from '../ingest-request.ts';
import { IdempotencyHeaders, idempotency } from '../middleware/idempotency.ts';
import { ingestErrorResponses } from '../schemas/ingest.ts';
import { ingestAuth } from './ingest-common.ts';

/** At most this many problems are listed in one error answer (the count says how many there were). */
const MAX_DETAILS = 100;

interface Problem {
  index: number;
  path: string;
  message: string;
}

function problemsError(problems: Problem[]): ApiError {
  const shown = problems.slice(0, MAX_DETAILS);
  const more = problems.length > shown.length ? ` (the first ${shown.length} of ${problems.length} are listed)` : '';
  return new ApiError(400, 'validation_failed', `${problems.length} item(s) are not valid; nothing was written${more}`, shown);
}

const indexOf = (path: PropertyKey[]): number => (path[0] === 'items' && typeof path[1] === 'number' ? path[1] : -1);

/**
 * Validates each item's `data` against its type's schema and turns the items into ingest commands.
 * Throws one 400 naming every bad item (index and field) before anything is stored.
 */
async function toCommands(services: Services, items: BulkItem[]): Promise<IngestCommand[]> {
  const problems: Problem[] = [];
  const parsed: Array<{ item: BulkItem; data: unknown }> = [];
  items.forEach((item, index) => {
    if (item.op === 'delete') {
      parsed.push({ item, data: undefined });
      return;
    }
    if (item.data === undefined) {
      problems.push({ index, path: `items.${index}.data`, message: `required for an upsert (the ${item.type}'s fields)` });
      return;
    }
    const result = bulkDataSchemas[item.type].safeParse(item.data);
    if (!result.success) {
      for (const issue of result.error.issues) {
        problems.push({ index, path: ['items', index, 'data', ...issue.path].join('.'), message: issue.message });
      }
      return;
    }
    parsed.push({ item, data: result.data });
  });
  if (problems.length) throw problemsError(problems);

  const commands: IngestCommand[] = [];
  for (const { item, data } of parsed) {
    const base = { externalId: item.externalId, ifVersion: item.ifVersion };
    if (item.op === 'delete') {
      commands.push({ op: 'delete', type: item.type, ...base });
      continue;
    }
    switch (item.type) {
      case 'case':
        commands.push({ op: 'upsert', type: 'case', ...base, data: data as z.output<typeof bulkDataSchemas.case> });
        break;
      case 'event':
        commands.push({ op: 'upsert', type: 'event', ...base, data: data as z.output<typeof bulkDataSchemas.event> });
        break;
      case 'contact':
        commands.push({ op: 'upsert', type: 'contact', ...base, data: data as z.output<typeof bulkDataSchemas.contact> });
        break;
      case 'document': {
        const { content, ...metadata } = data as z.output<typeof bulkDataSchemas.document>;
        const stored = await services.blobs.put(new Uint8Array(Buffer.from(content, 'base64')));
        commands.push({
          op: 'upsert',
          type: 'document',
          ...base,
          data: metadata,
          content: { ...stored, mimeType: metadata.mimeType ?? guessMimeType(metadata.fileName) },
        });
        break;
      }
    }
  }
  return commands;
}

const outcomeSchema = z.object({
  index: z.number().int(),
  type: z.enum(ENTITY_TYPES),
  externalId: z.string(),
  status: z.enum(['created', 'updated', 'unchanged', 'deleted', 'not_found']),
  id: z.string().nullable(),
  version: z.number().int().nullable(),
  deleted: z.boolean(),
});

const bulkResponseSchema = z
  .object({
    results: z.array(outcomeSchema),
    summary: z.object({
      created: z.number().int(),
      updated: z.number().int(),
      unchanged: z.number().int(),
      deleted: z.number().int(),
      notFound: z.number().int(),
    }),
    cascaded: z.number().int().openapi({ description: 'Events, documents and contacts tombstoned with their deleted cases' }),
  })
  .openapi('BulkIngestResult');

function summarize(outcomes: ItemOutcome[]) {
  const summary = { created: 0, updated: 0, unchanged: 0, deleted: 0, notFound: 0 };
  for (const o of outcomes) {
    if (o.status === 'not_found') summary.notFound++;
    else summary[o.status]++;
  }
  return summary;
}

/**
 * `POST /v1/ingest/bulk`: up to BULK_MAX_ITEMS upserts and deletes in one transaction, all or
 * nothing. Items may refer to cases created earlier in the same request.
 */
export const ingestBulkRoutes: RouteModule = (app, services) => {
  const maxItems = services.config.BULK_MAX_ITEMS;
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/ingest/bulk',
      operationId: 'ingestBulk',
      tags: ['Ingest'],
      summary: `Apply up to ${maxItems} upserts and deletes in one transaction (all or nothing)`,
      description:
        'Cases are applied first, then events, documents and contacts (which may refer to cases of the same request), ' +
        'then deletes. Identical resends change nothing. A bad item fails the whole request with 400; details name ' +
        'each item (`index`) and field (`path`, e.g. `items.3.data.start`). Deleting a record that never existed ' +
        'is reported as `not_found` and does not fail the request. Each record may appear once per request. An item ' +
        'whose case is deleted fails the request with 409 `case_deleted` (400 `unknown_case` when a case never existed).',
      ...ingestAuth,
      middleware: [...ingestAuth.middleware, idempotency()],
      request: {
        headers: IdempotencyHeaders,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({ items: z.array(bulkItemSchema).min(1).max(maxItems) }).openapi('BulkIngestRequest'),
            },
          },
        },
      },
      responses: {
        200: { description: 'Applied', content: { 'application/json': { schema: bulkResponseSchema } } },
        ...ingestErrorResponses,
      },
    }),
    async (c) => {
      const organizationId = organizationOf(c);
      const commands = await toCommands(services, c.req.valid('json').items);
      const result = await ingest(services, { organizationId, commands, bulk: true });
      return c.json({ results: result.outcomes, summary: summarize(result.outcomes), cascaded: result.cascaded }, 200);
    },
    // Envelope errors (op, type, externalId, too many items) with the item index, like data errors.
    (result, c) => {
      if (!result.success) {
        const problems = result.error.issues.map((i) => {
          const index = indexOf(i.path);
          return { ...(index >= 0 ? { index } : {}), path: i.path.join('.') || '(body)', message: i.message };
        });
        const shown = problems.slice(0, MAX_DETAILS);
        return c.json(errorBody('validation_failed', `the request is not valid; nothing was written`, shown), 400);
      }
    },
  );
};
