import { CasebridgeError } from './casebridge-error.ts';

/**
 * Who is calling could not be established or may not do this: no or ended session, missing CSRF
 * token, unknown or revoked API key, a role or scope that does not allow the call.
 */
export class AuthError extends CasebridgeError {}
