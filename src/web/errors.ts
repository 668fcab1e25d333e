/**
 * A page request that cannot be served: a stable snake_case code and a message for people. The
 * pages' error handler renders it as an HTML page (or `{ error: { code, message } }` for a client
 * that asked for JSON); it never carries secrets.
 */
export class PageError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 422 | 429 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PageError';
  }
}
