import { CasebridgeError } from '../errors/index.ts';

/**
 * A refused sign-in: a stable snake_case code (also the security event's reason), a message for
 * people, and the organization when known (so the event lands in its log).
 */
export class SignInError extends CasebridgeError {
  constructor(
    code: string,
    message: string,
    readonly options: {
      status?: 400 | 401 | 403 | 404 | 409 | 410 | 503;
      organizationId?: string | null;
      userId?: string | null;
      /** Diagnostic facts for the security event (never tokens or assertions). */
      details?: Record<string, unknown>;
    } = {},
  ) {
    // The details are for the security event, not for the browser: they stay off the base class.
    super(code, message);
  }

  get status(): 400 | 401 | 403 | 404 | 409 | 410 | 503 {
    return this.options.status ?? 401;
  }
}
