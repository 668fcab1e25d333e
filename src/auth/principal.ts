import type { ApiKeyScope } from './api-key-scopes.ts';

/** Who is making a request, as established by the authentication middlewares. */
export type Principal =
  | { kind: 'user'; userId: string; organizationId: string; role: 'member' | 'admin'; sessionId: string }
  | { kind: 'api_key'; organizationId: string; apiKeyId: string; scopes: readonly ApiKeyScope[] }
  | { kind: 'super_admin' };

export type UserPrincipal = Extract<Principal, { kind: 'user' }>;
