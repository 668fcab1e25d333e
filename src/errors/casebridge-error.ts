/**
 * The one base class of Casebridge's domain errors. A domain module throws a subclass with a stable
 * snake_case `code` (what clients and workers branch on), a message for people (never a secret) and
 * optional structured `details`. Nothing here knows about HTTP: only `src/api` turns codes into
 * statuses, so the same error means the same thing to a route, a worker and the command line.
 */
export class CasebridgeError extends Error {
  constructor(
    /** Stable snake_case code, e.g. `connection_revoked`. */
    readonly code: string,
    message: string,
    /** Structured facts for the caller (offending fields, allowed values); never tokens. */
    readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** True for any domain error, whichever module threw it. */
export function isCasebridgeError(err: unknown): err is CasebridgeError {
  return err instanceof CasebridgeError;
}
