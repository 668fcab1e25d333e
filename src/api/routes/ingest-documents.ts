import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { documentResourceSchema } from '../../cases/resources.ts';
import { guessMimeType } from '../../cases/rows.ts';
import { type DocumentMetadata, documentJsonSchema, documentMetadataSchema } from '../../cases/schemas.ts';
import type { AppEnv, RouteModule } from '../env.ts';
import { ApiError } from '../errors.ts';
import { ifMatch, ingestOne, zodFieldErrors } from '../ingest-request.ts';
import { jsonDeeperThan, MAX_JSON_DEPTH } from '../json-depth.ts';
import { externalIdParams, ifMatchHeaders, ingestErrorResponses } from '../schemas/ingest.ts';
import { ingestAuth, registerReadAndDelete } from './ingest-common.ts';

const multipartSchema = z
  .object({
    metadata: z.any().openapi({ type: 'string', description: 'DocumentMetadata as JSON text (a part of type application/json also works)' }),
    file: z.any().openapi({ type: 'string', format: 'binary', description: 'The file itself' }),
  })
  .openapi('DocumentMultipartInput');

/** Reads the `metadata` part (text or a JSON file part) and validates it; errors name `metadata.<field>`. */
async function readMetadata(part: unknown): Promise<DocumentMetadata> {
  const text = typeof part === 'string' ? part : part instanceof Blob ? await part.text() : undefined;
  if (text === undefined) {
    throw new ApiError(400, 'validation_failed', 'the request is not valid', [
      { path: 'metadata', message: 'required: a part named "metadata" holding the document metadata as JSON' },
    ]);
  }
  // The JSON part of a multipart body is not seen by the body-level depth limit.
  if (jsonDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ApiError(400, 'json_too_deep', `the metadata part nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`, [
      { path: 'metadata', message: `nested more than ${MAX_JSON_DEPTH} levels deep` },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'validation_failed', 'the request is not valid', [{ path: 'metadata', message: 'not valid JSON' }]);
  }
  const parsed = documentMetadataSchema.safeParse(json);
  if (!parsed.success) {
    throw new ApiError(
      400,
      'validation_failed',
      'the request is not valid',
      zodFieldErrors(parsed.error).map((d) => ({ ...d, path: `metadata.${d.path}` })),
    );
  }
  return parsed.data;
}

/** The document's metadata and bytes from either body form. */
async function readUpload(c: Context<AppEnv>, valid: { json: unknown; form: Record<string, unknown> }) {
  const mediaType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'multipart/form-data') {
    const metadata = await readMetadata(valid.form.metadata);
    const file = valid.form.file;
    if (!(file instanceof Blob)) {
      throw new ApiError(400, 'validation_failed', 'the request is not valid', [{ path: 'file', message: 'required: a file part named "file"' }]);
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const partType = file.type && file.type !== 'application/octet-stream' ? file.type.split(';')[0]!.toLowerCase() : '';
    return { metadata, bytes, mimeType: metadata.mimeType ?? (partType || guessMimeType(metadata.fileName)) };
  }
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    const { content, ...metadata } = valid.json as z.output<typeof documentJsonSchema>;
    const bytes = new Uint8Array(Buffer.from(content, 'base64'));
    return { metadata, bytes, mimeType: metadata.mimeType ?? guessMimeType(metadata.fileName) };
  }
  throw new ApiError(400, 'validation_failed', 'the request is not valid', [
    { path: '(body)', message: 'send multipart/form-data (metadata + file) or application/json (metadata + base64 content)' },
  ]);
}

/**
 * `PUT|GET|DELETE /v1/ingest/documents/{externalId}`: document metadata plus content. The bytes go to
 * the content-addressed blob store (SHA-256 key) before the transaction; a rolled-back upload leaves
 * at most an unreferenced blob, never a row without its bytes.
 */
export const ingestDocumentRoutes: RouteModule = (app) => {
  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/ingest/documents/{externalId}',
      operationId: 'putDocument',
      tags: ['Ingest'],
      summary: 'Create or update a document: multipart (metadata + file) or JSON (metadata + base64 content)',
      description:
        'API key with the `ingest` scope. The file is stored encrypted once per content (by SHA-256); `If-Match: "<version>"` makes the write conditional.',
      ...ingestAuth,
      request: {
        params: externalIdParams,
        headers: ifMatchHeaders,
        body: {
          // Not `required`: each media type's validator then runs only for its own content type.
          required: false,
          content: {
            'multipart/form-data': { schema: multipartSchema },
            'application/json': { schema: documentJsonSchema },
          },
        },
      },
      responses: {
        200: { description: 'Updated or unchanged', content: { 'application/json': { schema: documentResourceSchema } } },
        201: { description: 'Created', content: { 'application/json': { schema: documentResourceSchema } } },
        ...ingestErrorResponses,
      },
    }),
    async (c) => {
      const { externalId } = c.req.valid('param');
      const ifVersion = ifMatch(c);
      const upload = await readUpload(c, { json: c.req.valid('json'), form: c.req.valid('form') as Record<string, unknown> });
      const stored = await c.get('services').blobs.put(upload.bytes);
      const { resource, status } = await ingestOne(c, {
        op: 'upsert',
        type: 'document',
        externalId,
        data: upload.metadata,
        content: { sha256: stored.sha256, size: stored.size, mimeType: upload.mimeType },
        ifVersion,
      });
      return c.json(resource, status);
    },
  );
  registerReadAndDelete(app, {
    type: 'document',
    plural: 'documents',
    tag: 'Ingest',
    resourceSchema: documentResourceSchema,
  });
};
