import { z } from '@hono/zod-openapi';
import { externalIdSchema } from '../../cases/schemas.ts';
import { errorResponse } from '../schemas.ts';

/**
 * Request pieces and error answers every ingest route shares (`PUT|GET|DELETE
 * /v1/ingest/<plural>/{externalId}` and the bulk). The records' own schemas are `src/cases/schemas.ts`.
 */

/** Error responses every ingest route can give (for the OpenAPI document). */
export const ingestErrorResponses = {
  400: errorResponse('Validation failed; `details` lists each field. `unknown_case`: `caseExternalId` names no case'),
  401: errorResponse('Missing (`missing_api_key`), unknown (`invalid_api_key`) or revoked (`revoked_api_key`) API key'),
  404: errorResponse('No such record in the key’s organization'),
  409: errorResponse(
    '`version_conflict`: If-Match names another version; `details.currentVersion` has the current one. ' +
      '`case_deleted`: `caseExternalId` names a deleted case (send the case again to revive it; its old children stay deleted)',
  ),
  413: errorResponse('Body larger than BODY_LIMIT_BYTES'),
};

/** `{ externalId }` of `/v1/ingest/<plural>/{externalId}`. */
export const externalIdParams = z.object({ externalId: externalIdSchema });

/** The optional `If-Match` of a write (read with `ifMatch`, src/api/ingest-request.ts). */
export const ifMatchHeaders = z.object({
  'if-match': z.string().optional().openapi({ description: 'Expected current version: `3`, `"3"` or `*` (must exist). A mismatch answers 409.' }),
});
