import type { CasebridgeError } from '../errors/index.ts';
import { ApiError } from './errors.ts';

type Status = ApiError['status'];

/**
 * The one place a domain error's code becomes an HTTP status. Domain modules (auth, connections,
 * consent, revocation, ingest, sign-in administration) throw `CasebridgeError` subclasses with a
 * stable code and know nothing of HTTP; this table is what a client sees. A code missing here is a
 * programming omission, answered as 500 `internal_error` and logged, never guessed at.
 */
export const STATUS_BY_CODE: Readonly<Record<string, Status>> = {
  // Who is calling.
  unauthenticated: 401,
  session_revoked: 401,
  missing_api_key: 401,
  invalid_api_key: 401,
  revoked_api_key: 401,
  invalid_super_admin_token: 401,
  csrf_token_invalid: 403,
  admin_required: 403,
  super_admin_disabled: 403,
  forbidden: 403,
  not_connection_owner: 403,
  platform_disabled: 403,
  // The provider's consent screen let the user untick a scope the platform needs.
  scope_not_granted: 403,
  // Invitations of imported contacts: the contacts.invite consent is missing; the address opted out.
  invite_consent_required: 403,
  recipient_opted_out: 403,
  invitation_blocked: 403,
  // What it names.
  not_found: 404,
  invitation_not_found: 404,
  no_current_consent: 404,
  target_not_found: 404,
  // Revoking a target with nothing live: answered like an unknown target since the first release.
  nothing_to_revoke: 404,
  // What it asks for.
  unknown_platform: 400,
  platform_not_oauth: 400,
  invalid_settings: 400,
  // A connector's check of a host an administrator chose (SSRF rules).
  invalid_host: 400,
  host_not_https: 400,
  host_not_allowed: 400,
  host_unresolvable: 400,
  category_not_supported: 400,
  // Webhook endpoints (src/webhooks/): a URL that is not https or points inside the network, an unknown event type.
  webhook_url_invalid: 400,
  webhook_url_private: 400,
  unknown_event_type: 400,
  invalid_cursor: 400,
  unknown_case: 400,
  no_categories: 400,
  empty_case_scope: 400,
  attestation_required: 400,
  state_invalid: 400,
  state_session_mismatch: 400,
  authorization_denied: 400,
  authorization_failed: 400,
  no_email_address: 422,
  email_not_of_contact: 422,
  // The state it meets.
  already_member: 409,
  recently_invited: 409,
  invitation_used: 409,
  user_disabled: 409,
  // Gone for good: an expired invitation never becomes valid again (a new one must be sent).
  invitation_expired: 410,
  invitation_limit_reached: 429,
  connection_revoked: 409,
  connection_transition_refused: 409,
  account_mismatch: 409,
  refresh_token_missing: 409,
  policy_version_outdated: 409,
  last_admin: 409,
  domain_claimed: 409,
  webhook_rotation_conflict: 409,
  webhook_endpoint_limit: 409,
  idp_entity_id_in_use: 409,
  // Someone else's fault, or not configured here.
  token_exchange_failed: 502,
  invitation_delivery_failed: 502,
  invitation_channel_unavailable: 503,
  platform_not_configured: 503,
  webhook_secrets_unavailable: 503,
};

/** The HTTP status of a domain code, or null when the code is not one the API answers with. */
export function statusForCode(code: string): Status | null {
  return Object.hasOwn(STATUS_BY_CODE, code) ? (STATUS_BY_CODE[code] ?? null) : null;
}

/** The API error a domain error becomes, or null when its code has no status (answer 500). */
export function apiErrorFor(err: CasebridgeError): ApiError | null {
  const status = statusForCode(err.code);
  return status === null ? null : new ApiError(status, err.code, err.message, err.details);
}
