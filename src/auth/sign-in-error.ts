/**
 * A refused sign-in: a stable snake_case code (also the security event's reason), a message for
 * people, and the organization when known (so the event lands in its log).
 */
export class SignInError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly options: {
      status?: 400 | 401 | 403 | 404 | 409 | 410 | 503;
      organizationId?: string | null;
      userId?: string | null;
      /** Diagnostic facts for the security event (never tokens or assertions). */
      details?: Record<string, unknown>;
    } = {},
  ) {
    super(message);
    this.name = 'SignInError';
  }

  get status(): 400 | 401 | 403 | 404 | 409 | 410 | 503 {
    return this.options.status ?? 401;
  }
}
