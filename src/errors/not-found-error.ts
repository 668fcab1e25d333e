import { CasebridgeError } from './casebridge-error.ts';

/**
 * The thing does not exist for this caller. Another organization's ids answer the same way as ids
 * that never existed, so the code is `not_found` unless a more precise one is safe to give.
 */
export class NotFoundError extends CasebridgeError {
  constructor(what = 'resource', code = 'not_found') {
    super(code, `${what} not found`);
  }
}
