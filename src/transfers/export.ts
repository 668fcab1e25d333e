import type { Db } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { CSV_COLUMNS, csvLine, iterateTransfers, type TransferFilters, type TransferScope, transferView } from './queries.ts';

/**
 * Every matching transfer-log row, oldest first, as a stream of CSV (RFC 4180, header row) or a JSON
 * array: a page of rows per pull, so memory stays bounded whatever the export's size. The API's
 * `GET /v1/transfers/export` and the admin page's export both answer with this.
 */
export function transferExportStream(
  db: Db,
  logger: Logger,
  params: { scope: TransferScope; filters: TransferFilters; format: 'csv' | 'json' },
): ReadableStream<Uint8Array> {
  const rows = iterateTransfers(db, { scope: params.scope, filters: params.filters });
  const encoder = new TextEncoder();
  const csv = params.format === 'csv';
  let started = false;
  let first = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!started) {
          started = true;
          controller.enqueue(encoder.encode(csv ? `${CSV_COLUMNS.join(',')}\r\n` : '['));
        }
        for (let n = 0; n < 200; n++) {
          const next = await rows.next();
          if (next.done) {
            if (!csv) controller.enqueue(encoder.encode(first ? ']' : '\n]'));
            controller.close();
            return;
          }
          const chunk = csv ? csvLine(next.value) : `${first ? '\n' : ',\n'}${JSON.stringify(transferView(next.value))}`;
          first = false;
          controller.enqueue(encoder.encode(chunk));
        }
      } catch (e) {
        logger.error({ err: e }, 'transfer export failed mid-stream');
        controller.error(e);
      }
    },
    async cancel() {
      await rows.return(undefined);
    },
  });
}

/** Headers of an export answer (a download, never cached). */
export function transferExportHeaders(format: 'csv' | 'json'): Record<string, string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
    'content-disposition': `attachment; filename="transfers-${stamp}.${format}"`,
    'cache-control': 'no-store',
  };
}
