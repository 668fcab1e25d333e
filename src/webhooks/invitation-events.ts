import type { Db, Tx } from '../db/database.ts';
import { emitWebhookEvent } from './outbox.ts';

/**
 * `invitation.sent` / `invitation.accepted`, for the module that sends invitations (e.g. a
 * connector inviting a contact). Call it in the transaction that records the invitation or its
 * acceptance; it is idempotent per invitation and kind, so a retried send announces once.
 */
export async function emitInvitationEvent(
  db: Db | Tx,
  params: {
    organizationId: string;
    kind: 'sent' | 'accepted';
    invitationId: string;
    connectionId?: string | null;
    contactId?: string | null;
    userId?: string | null;
  },
): Promise<string | null> {
  return emitWebhookEvent(db, {
    organizationId: params.organizationId,
    type: params.kind === 'sent' ? 'invitation.sent' : 'invitation.accepted',
    data: {
      invitationId: params.invitationId,
      connectionId: params.connectionId ?? null,
      contactId: params.contactId ?? null,
      userId: params.userId ?? null,
    },
    dedupKey: `invitation.${params.kind}:${params.invitationId}`,
  });
}
