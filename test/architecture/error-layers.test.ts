import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, stripComments, tsFiles } from './source-files.ts';

/**
 * Only src/api turns domain error codes into HTTP statuses: the domain modules throw
 * `CasebridgeError` subclasses and never build an `ApiError`.
 */
const DOMAIN = ['src/auth', 'src/connections', 'src/consent', 'src/revocation', 'src/cases', 'src/errors'];

describe('architecture: HTTP statuses live in src/api', () => {
  it('no domain module names ApiError (sign-in pages keep their own status, see sign-in-error.ts)', () => {
    const offenders = DOMAIN.flatMap((d) => tsFiles(d)).filter((f) => /\bApiError\b/.test(stripComments(fs.readFileSync(path.join(ROOT, f), 'utf8'))));
    expect(offenders).toEqual([]);
  });
});
