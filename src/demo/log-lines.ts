import type { DestinationStream } from 'pino';

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };

/**
 * A pino destination that turns the service's JSON log lines into lines for the person watching the
 * demo (`warning: …`, with the error's message when there is one). Redaction has already happened in
 * pino, so nothing secret reaches it; a line that is not pino JSON is passed on as it is.
 */
export function humanLogLines(write: (line: string) => void): DestinationStream {
  return {
    write(chunk: string) {
      for (const text of chunk.split('\n')) {
        if (!text) continue;
        let entry: { level?: number; msg?: string; err?: { message?: string } };
        try {
          entry = JSON.parse(text);
        } catch {
          write(text);
          continue;
        }
        const level = LEVELS[entry.level ?? 30] ?? 'log';
        const cause = entry.err?.message ? `: ${entry.err.message}` : '';
        write(`${level}: ${entry.msg ?? ''}${cause}`);
      }
    },
  };
}
