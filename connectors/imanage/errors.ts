import { OAuthTokenError } from '../../src/connections/oauth-types.ts';
import { ProviderRequestError } from '../../src/transfers/clients/http.ts';
import type { ProviderErrorClass } from '../types.ts';

/**
 * iManage error → what the engine does about it. Pure. 401 ("X-Auth-Token is invalid or missing",
 * e.g. after 30 minutes without use) → refresh; 429 → wait Retry-After; 5xx, 408 and no answer →
 * retry with backoff; any other 4xx (a missing required profile field, a wrong class) is permanent
 * and its message names the field iManage named.
 */

/** A case whose workspace does not exist and may not be created (policy `report`), or whose number does not split. */
export class UnmappedCaseError extends Error {
  readonly code = 'unmapped_case';
  constructor(message: string) {
    super(message);
    this.name = 'UnmappedCaseError';
  }
}

/** The library is not chosen yet (several were discovered). */
export class LibraryNotChosenError extends Error {
  readonly code = 'library_required';
  constructor(libraries: string[]) {
    super(`choose the iManage library to file into (settings.libraryId): ${libraries.join(', ') || 'none found'}`);
    this.name = 'LibraryNotChosenError';
  }
}

function fieldOf(body: unknown): string | null {
  const e = (body as { error?: { field?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.field === 'string' ? e.field : null;
}

function providerMessage(body: unknown): string | null {
  const e = (body as { error?: { message?: unknown } } | null)?.error;
  return typeof e?.message === 'string' ? e.message.slice(0, 300) : null;
}

export function classifyImanageError(err: unknown): ProviderErrorClass {
  if (err instanceof UnmappedCaseError) return { kind: 'permanent', code: err.code, message: err.message, status: null };
  if (err instanceof LibraryNotChosenError) return { kind: 'permanent', code: err.code, message: err.message, status: null };
  if (err instanceof ProviderRequestError) {
    const { status } = err;
    if (status === null) return { kind: 'transient', status, message: err.message };
    if (status === 429) return { kind: 'rate_limited', retryAfterMs: err.retryAfterMs, status, message: err.message };
    if (status === 401) return { kind: 'auth_failed', reauthRequired: false, status, message: 'iManage: X-Auth-Token is invalid or missing' };
    if (status === 403)
      return { kind: 'auth_failed', reauthRequired: true, status, message: 'iManage refused access: the connected user lacks rights on the library' };
    if (status === 408 || status >= 500) return { kind: 'transient', status, message: err.message };
    const field = fieldOf(err.body);
    const said = providerMessage(err.body);
    return {
      kind: 'permanent',
      status,
      code: field ? 'profile_rejected' : 'provider_refused',
      message: `iManage refused the request (${status})${field ? `: field ${field}` : ''}${said ? ` — ${said}` : ''}`,
    };
  }
  if (err instanceof OAuthTokenError) {
    if (err.code === 'invalid_grant' || err.code === 'host_not_allowed')
      return { kind: 'auth_failed', reauthRequired: true, status: err.status, message: err.message };
    return { kind: 'transient', status: err.status, message: err.message };
  }
  const e = err as { code?: string; message?: string } | null;
  if (e?.code === 'ungated_transfer') return { kind: 'permanent', message: e.message ?? 'ungated transfer' };
  return { kind: 'transient', message: e?.message ?? String(err) };
}
