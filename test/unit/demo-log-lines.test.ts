import { describe, expect, it } from 'vitest';
import { humanLogLines } from '../../src/demo/log-lines.ts';
import { createLogger } from '../../src/observability/logger.ts';

describe('demo log lines', () => {
  it('turns pino records into words, with the error message and without redacted secrets', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: humanLogLines((l) => lines.push(l)) });
    logger.warn({ variables: ['SESSION_SECRET'] }, 'using development defaults');
    logger.error({ err: new Error('connection refused'), token: 'ya29.secret-value' }, 'sync failed');
    logger.debug('not at this level');
    expect(lines).toEqual(['warning: using development defaults', 'error: sync failed: connection refused']);
    expect(lines.join('\n')).not.toContain('ya29');
  });

  it('passes on a line that is not a log record as it is', () => {
    const lines: string[] = [];
    humanLogLines((l) => lines.push(l)).write('plain text\n');
    expect(lines).toEqual(['plain text']);
  });
});
