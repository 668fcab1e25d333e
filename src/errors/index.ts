/** Domain errors: one base class with a stable `code`; src/api maps codes to HTTP statuses. */
export { AuthError } from './auth-error.ts';
export { CasebridgeError, isCasebridgeError } from './casebridge-error.ts';
export { NotFoundError } from './not-found-error.ts';
