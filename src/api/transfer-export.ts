import type { Services } from '../services.ts';
import type { ChainedEntry } from '../transfers/log-entry.ts';
import { CSV_COLUMNS, csvLine, transferView } from '../transfers/queries.ts';

/**
 * The streamed answer of `GET /v1/transfers/export`: CSV (RFC 4180, header row) or a JSON array,
 * a page of rows per pull so memory stays bounded whatever the export size.
 */
export function exportResponse(services: Services, params: { rows: AsyncGenerator<ChainedEntry>; format: 'csv' | 'json' }): Response {
  const { rows, format } = params;
  const encoder = new TextEncoder();
  let started = false;
  let first = true;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!started) {
          started = true;
          controller.enqueue(encoder.encode(format === 'csv' ? `${CSV_COLUMNS.join(',')}\r\n` : '['));
        }
        // A page of rows per pull keeps memory bounded whatever the export size.
        for (let n = 0; n < 200; n++) {
          const next = await rows.next();
          if (next.done) {
            if (format === 'json') controller.enqueue(encoder.encode(first ? ']' : '\n]'));
            controller.close();
            return;
          }
          const chunk = format === 'csv' ? csvLine(next.value) : `${first ? '\n' : ',\n'}${JSON.stringify(transferView(next.value))}`;
          first = false;
          controller.enqueue(encoder.encode(chunk));
        }
      } catch (e) {
        services.logger.error({ err: e }, 'transfer export failed mid-stream');
        controller.error(e);
      }
    },
    async cancel() {
      await rows.return(undefined);
    },
  });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return new Response(stream, {
    status: 200,
    headers: {
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
      'content-disposition': `attachment; filename="transfers-${stamp}.${format}"`,
      'cache-control': 'no-store',
    },
  });
}
