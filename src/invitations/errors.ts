import { CasebridgeError } from '../errors/casebridge-error.ts';

/**
 * Why an invitation could not be sent, viewed, accepted or opted out of. Codes (statuses in
 * `src/api/error-status.ts`): `already_member`, `no_email_address`, `email_not_of_contact`,
 * `recently_invited`, `invitation_limit_reached`, `invite_consent_required`, `recipient_opted_out`,
 * `invitation_blocked`, `invitation_channel_unavailable`, `invitation_delivery_failed`,
 * `invitation_not_found`, `invitation_used`, `invitation_expired`, `user_disabled`.
 */
export class InvitationError extends CasebridgeError {}
