import { z } from '@hono/zod-openapi';

/**
 * Schemas every route module shares, defined once: the error envelope and the helper that declares
 * an error response. A route file keeps only the schemas of its own resource.
 */

/** `{ "error": { "code", "message", "details"? } }`, the body of every 4xx and 5xx answer. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ description: 'Stable snake_case code clients branch on', example: 'not_found' }),
      message: z.string().openapi({ description: 'For people; never carries a secret', example: 'connection not found' }),
      details: z.unknown().optional().openapi({ description: 'Structured facts: offending fields, allowed values' }),
    }),
  })
  .openapi('Error');

/** An error response in an OpenAPI route: its description lists the codes it can carry. */
export const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } });
