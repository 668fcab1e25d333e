/**
 * API errors: `{ "error": { "code": "snake_case", "message": "...", "details": ... } }`. Codes are
 * stable strings clients can branch on; messages are for people and never carry secrets.
 */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 410 | 412 | 413 | 415 | 422 | 428 | 429 | 500 | 502 | 503,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

export const notFound = (what = 'resource'): ApiError => new ApiError(404, 'not_found', `${what} not found`);
export const forbidden = (message = 'you are not allowed to do this'): ApiError => new ApiError(403, 'forbidden', message);
export const unauthorized = (code = 'unauthenticated', message = 'authentication required'): ApiError => new ApiError(401, code, message);
