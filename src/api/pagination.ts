import { z } from '@hono/zod-openapi';
import { decodeKeysetCursor, type KeysetSpec, type SortKind, TIME_ID, type TimeIdCursor } from '../db/page-cursor.ts';
import { ApiError } from './errors.ts';

/**
 * One list shape for every list endpoint: `{ items, nextCursor }`, newest first unless a route says
 * otherwise, with an opaque `cursor` to pass back for the next page (`nextCursor: null` on the last
 * page). A cursor is a keyset position — `(sort value, key)` of the last item, most often
 * `(time, id)`, see src/db/page-cursor.ts — so pages never skip or repeat a row when rows are added
 * meanwhile.
 */

/** `?limit=&cursor=`, for a route's query schema. */
export function pageQuery(params: { defaultLimit?: number; maxLimit?: number } = {}) {
  return z.object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(params.maxLimit ?? 200)
      .default(params.defaultLimit ?? 50)
      .openapi({ description: 'Items per page', example: 50 }),
    // A cursor holding an e-mail address (users by address) can be a few hundred characters.
    cursor: z.string().max(1000).optional().openapi({ description: "The previous page's `nextCursor`" }),
  });
}

/** The response schema of a page of `item`, registered as `<name>` in the document. */
export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      nextCursor: z.string().nullable().openapi({ description: 'Pass as `cursor` for the next page; null on the last page' }),
    })
    .openapi(name);
}

/** A `(time, id)` cursor this API returned, null for the first page, or 400 `invalid_cursor`. */
export function decodePageCursor(cursor: string | undefined): TimeIdCursor | null {
  const decoded = decodeListCursor(cursor, TIME_ID);
  return decoded && { at: decoded.sort, id: decoded.key };
}

/** A cursor of a list shaped by `spec` (see src/db/page-cursor.ts), null for the first page, or 400 `invalid_cursor`. */
export function decodeListCursor<K extends SortKind>(cursor: string | undefined, spec: KeysetSpec<K>) {
  if (cursor === undefined) return null;
  const decoded = decodeKeysetCursor(cursor, spec);
  if (!decoded) throw new ApiError(400, 'invalid_cursor', 'the cursor is not one this API returned');
  return decoded;
}
