/**
 * What an API key may do. A key carries one or more scopes; `admin` covers every other one. The
 * scope registry is this list: routes name the scope they need, the migration's CHECK and the
 * OpenAPI document derive from it.
 *
 * - `ingest`: push cases, events, documents and contacts (`/v1/ingest/…`);
 * - `connections:read`: read a user's connections and consents (`/v1/users/{user}/…`);
 * - `connections:manage`: start a connect session for a user (`POST /v1/connect-sessions`);
 * - `transfers:read`: read a user's transfer-log rows;
 * - `admin`: all of the above.
 */
export const API_KEY_SCOPES = ['ingest', 'connections:read', 'connections:manage', 'transfers:read', 'admin'] as const;

export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** What keys made before scopes existed could do, and what a new key gets when none is named. */
export const DEFAULT_API_KEY_SCOPES: readonly ApiKeyScope[] = ['ingest', 'connections:manage'];

/** Whether a key with `granted` scopes may do what needs `needed`. */
export function scopeAllows(granted: readonly string[], needed: ApiKeyScope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}

export function isApiKeyScope(value: string): value is ApiKeyScope {
  return (API_KEY_SCOPES as readonly string[]).includes(value);
}
