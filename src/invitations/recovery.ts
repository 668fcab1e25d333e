import type { Services } from '../services.ts';
import { emitInvitationEvent } from '../webhooks/invitation-events.ts';
import { INVITATION_PURPOSE } from './service.ts';

/**
 * Recovery of invitations left `pending`: the process that saved one died before the e-mail's
 * outcome was recorded (between the insert and the send, or during the send, or after it). A pending
 * row counts against the address's re-invite window (7 days), so left alone it would block that
 * address for a week.
 *
 * Decision: such an invitation is never sent late. Only the token's hash was stored, so the link
 * cannot be re-sent, and an e-mail going out in the inviter's name minutes or hours after their
 * request failed would surprise them. Instead, once a pending row is older than
 * {@link PENDING_INVITATION_LEASE_MS} (far beyond one gated send: the SMTP and Graph clients time out
 * within a minute), the transfer log decides:
 * - a `sent` row for the invitation's item (`invitation:{id}`): the e-mail left and the process died
 *   before saying so → `sent` (with that transfer and time, the contact marked invited, the
 *   `invitation.sent` webhook), exactly what the request would have recorded;
 * - an intent without an answer, or an `unknown` outcome: the e-mail may have left → `failed`,
 *   reason `interrupted_outcome_unknown` (the address is free again; the log says what is known);
 * - nothing (died before the gate) or a refusal/failure row → `failed`, reason `interrupted_not_sent`.
 * Failed rows do not count against the limits: the address can be invited again at once. Run by the
 * maintenance task `recover-invitations` (every minute).
 */

export const PENDING_INVITATION_LEASE_MS = 10 * 60_000;
const BATCH = 200;

export async function recoverPendingInvitations(services: Pick<Services, 'db' | 'logger'>, now = new Date()): Promise<{ sent: number; failed: number }> {
  const { db } = services;
  const stale = await db
    .selectFrom('contact_invitations')
    .select(['id', 'organization_id', 'connection_id', 'contact_id', 'inviter_user_id'])
    .where('status', '=', 'pending')
    .where('created_at', '<', new Date(now.getTime() - PENDING_INVITATION_LEASE_MS))
    .orderBy('created_at')
    .limit(BATCH)
    .execute();
  let sent = 0;
  let failed = 0;
  for (const inv of stale) {
    const log = await db
      .selectFrom('transfer_log')
      .select(['id', 'intent_id', 'outcome', 'created_at'])
      .where('organization_id', '=', inv.organization_id)
      .where('purpose', '=', INVITATION_PURPOSE)
      .where('item_key', '=', `invitation:${inv.id}`)
      .orderBy('seq')
      .execute();
    const delivered = log.find((r) => r.outcome === 'sent');
    const answered = new Set(log.filter((r) => r.intent_id && r.outcome !== 'unknown').map((r) => r.intent_id));
    const mayHaveLeft = log.some((r) => (r.outcome === 'intent' && !answered.has(r.id)) || r.outcome === 'unknown');
    const outcome = await db.transaction().execute(async (tx) => {
      if (delivered) {
        const row = await tx
          .updateTable('contact_invitations')
          .set({ status: 'sent', sent_at: delivered.created_at, transfer_id: delivered.intent_id ?? delivered.id, reason: 'recovered_after_interruption' })
          .where('id', '=', inv.id)
          .where('status', '=', 'pending')
          .returning('id')
          .executeTakeFirst();
        if (!row) return null;
        if (inv.contact_id) await tx.updateTable('imported_contacts').set({ invited_at: delivered.created_at }).where('id', '=', inv.contact_id).execute();
        await emitInvitationEvent(tx, {
          organizationId: inv.organization_id,
          kind: 'sent',
          invitationId: inv.id,
          connectionId: inv.connection_id,
          contactId: inv.contact_id,
          userId: inv.inviter_user_id,
        });
        return 'sent' as const;
      }
      const row = await tx
        .updateTable('contact_invitations')
        .set({ status: 'failed', reason: mayHaveLeft ? 'interrupted_outcome_unknown' : 'interrupted_not_sent' })
        .where('id', '=', inv.id)
        .where('status', '=', 'pending')
        .returning('reason')
        .executeTakeFirst();
      return row ? ('failed' as const) : null;
    });
    if (outcome === 'sent') sent++;
    if (outcome === 'failed') failed++;
    if (outcome) services.logger.warn({ invitationId: inv.id, outcome, mayHaveLeft }, 'interrupted invitation recovered');
  }
  return { sent, failed };
}
