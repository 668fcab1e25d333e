import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { ConnectorMailbox } from '../../connectors/types.ts';
import { recordAudit } from '../audit/audit-log.ts';
import type { UserPrincipal } from '../auth/principal.ts';
import { issueSignInLink, signInLinkUrl } from '../auth/sign-in-links.ts';
import type { ConnectorOAuth } from '../connections/oauth-types.ts';
import { connectionTokens } from '../connections/token-access.ts';
import { nextTimeIdCursor, type TimeIdCursor, timeIdKeyset } from '../db/page-cursor.ts';
import type { Services } from '../services.ts';
import { openMailClient } from '../transfers/clients/mail.ts';
import { emitInvitationEvent } from '../webhooks/invitation-events.ts';
import { InvitationError } from './errors.ts';
import { type InvitationFields, invitationMessage } from './message.ts';

/**
 * Invitations of imported contacts (issue 15, invite half).
 *
 * A user invites one of THEIR imported contacts to their organization. The e-mail is an outbound
 * transfer to that person through the gate, on the connection the contact was imported with:
 * category `contacts.invite` (its own consent, apart from `contacts.import`), purpose
 * `contact_invitation`, recipient = the address (`suppressible`: the gate refuses an address that
 * opted out, `recipient_suppressed`, and logs the refusal), fields = inviter name, organization
 * name, link, address. Sent by SMTP (`SMTP_URL`) or, when the connection chose "send invitations
 * from my mailbox", through the platform's mailbox sender (Graph `sendMail`).
 *
 * Limits, checked under locks (the inviter's user row; the address, by advisory lock) so concurrent
 * requests cannot both pass: at most INVITATION_DAILY_LIMIT invitations per user per rolling 24 h,
 * no invitation of an address already invited in the organization within INVITATION_REINVITE_DAYS
 * (which also makes a double click one invitation). Failed and blocked attempts do not count.
 *
 * A row left `pending` by a process that died mid-send is settled by `recovery.ts` (maintenance).
 *
 * The token (256 random bits, only its SHA-256 stored) is single-use and expires after
 * INVITATION_TTL_DAYS. Accepting creates the person's membership (a `member` of the organization,
 * unless they already are one) and answers a single-use sign-in link: they sign in through the
 * organization's sign-in methods with that address. Opting out (any time, with the same token)
 * puts the address on the organization's suppression list.
 */

const TOKEN_PREFIX = 'cbi_';
const TOKEN_SHAPE = /^cbi_[A-Za-z0-9_-]{43}$/;
export const INVITATION_PURPOSE = 'contact_invitation';

export function hashInvitationToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Where a platform's mailbox sender and OAuth specifics are (the route passes the connector registry's). */
export interface InvitationPlatforms {
  mailbox(platform: string): ConnectorMailbox | undefined;
  oauth(platform: string): ConnectorOAuth | undefined;
}

export interface InvitationView {
  id: string;
  contactId: string | null;
  email: string;
  channel: 'smtp' | 'mailbox';
  status: 'pending' | 'sent' | 'failed' | 'blocked' | 'accepted';
  reason: string | null;
  transferId: string | null;
  expiresAt: string;
  sentAt: string | null;
  acceptedAt: string | null;
  createdAt: string;
}

type InvitationRow = {
  id: string;
  contact_id: string | null;
  email: string;
  channel: 'smtp' | 'mailbox';
  status: InvitationView['status'];
  reason: string | null;
  transfer_id: string | null;
  expires_at: Date;
  sent_at: Date | null;
  accepted_at: Date | null;
  created_at: Date;
};

function toView(r: InvitationRow): InvitationView {
  return {
    id: r.id,
    contactId: r.contact_id,
    email: r.email,
    channel: r.channel,
    status: r.status,
    reason: r.reason,
    transferId: r.transfer_id,
    expiresAt: r.expires_at.toISOString(),
    sentAt: r.sent_at?.toISOString() ?? null,
    acceptedAt: r.accepted_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
  };
}

const BLOCK_CODES: Record<string, [code: string, message: string]> = {
  category_not_consented: ['invite_consent_required', 'grant "Invite imported contacts" (contacts.invite) on this connection first'],
  recipient_suppressed: ['recipient_opted_out', 'this address opted out of invitations from your organization'],
};

/** The accept link for a token: the page a person opens (`src/web/pages/invitation.tsx`). */
export function invitationUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl.replace(/\/$/, '')}/invitations/${token}`;
}

/**
 * Where a process can die between the steps of {@link inviteContact} (tests throw here to leave the
 * state a crash leaves; see `recovery.ts`). Never set in production.
 */
export interface InvitationCrashPoints {
  /** After the pending row is committed, before the gated send. */
  afterInsert?(): void;
  /** After the gate answered (its rows written), before the invitation's status is saved. */
  afterSend?(): void;
}

/** Sends an invitation to one of the caller's imported contacts. */
export async function inviteContact(
  services: Services,
  platforms: InvitationPlatforms,
  principal: UserPrincipal,
  params: { contactId: string; email?: string },
  crash: InvitationCrashPoints = {},
): Promise<InvitationView> {
  const { db, config } = services;
  const contact = await db
    .selectFrom('imported_contacts as ic')
    .innerJoin('connections as c', 'c.id', 'ic.connection_id')
    .innerJoin('organizations as o', 'o.id', 'ic.organization_id')
    .innerJoin('users as u', 'u.id', 'ic.user_id')
    .select([
      'ic.id',
      'ic.emails',
      'ic.matched_user_id',
      'ic.connection_id',
      'c.platform',
      'c.settings',
      'c.status',
      'o.name as org_name',
      'u.name as inviter_name',
      'u.email as inviter_email',
    ])
    .where('ic.id', '=', params.contactId)
    // Only the caller's own contacts: another user's or organization's are "not found".
    .where('ic.organization_id', '=', principal.organizationId)
    .where('ic.user_id', '=', principal.userId)
    .executeTakeFirst();
  if (!contact) throw new InvitationError('not_found', 'imported contact not found');
  const emails = contact.emails;
  const email = (params.email ?? emails[0] ?? '').trim().toLowerCase();
  if (!email) throw new InvitationError('no_email_address', 'this contact has no e-mail address to invite');
  if (!emails.includes(email)) throw new InvitationError('email_not_of_contact', 'that address is not one of this contact’s addresses');
  const member = await db
    .selectFrom('users')
    .select('id')
    .where('organization_id', '=', principal.organizationId)
    .where((eb) => eb(eb.fn('lower', ['email']), '=', email))
    .executeTakeFirst();
  if (contact.matched_user_id || member) throw new InvitationError('already_member', 'this person is already a member of your organization');

  const mailbox = platforms.mailbox(contact.platform);
  const channel: 'smtp' | 'mailbox' = mailbox?.enabled(contact.settings) ? 'mailbox' : 'smtp';
  const smtp = channel === 'smtp' ? openMailClient(config) : null;
  if (channel === 'smtp' && !smtp)
    throw new InvitationError(
      'invitation_channel_unavailable',
      'invitations cannot be e-mailed: no SMTP server is configured (SMTP_URL), and this connection does not send from its mailbox',
    );

  // Limits and the pending row, under locks: concurrent requests cannot both pass a check.
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const now = new Date();
  const expiresAt = new Date(now.getTime() + config.INVITATION_TTL_DAYS * 86_400_000);
  const invitation = await db.transaction().execute(async (tx) => {
    await tx.selectFrom('users').select('id').where('id', '=', principal.userId).forUpdate().executeTakeFirst();
    await sql`select pg_advisory_xact_lock(hashtextextended(${`invitation:${principal.organizationId}:${email}`}, 0))`.execute(tx);
    const counting = ['pending', 'sent', 'accepted'] as const;
    const today = await tx
      .selectFrom('contact_invitations')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('inviter_user_id', '=', principal.userId)
      .where('status', 'in', counting)
      .where('created_at', '>', new Date(now.getTime() - 86_400_000))
      .executeTakeFirstOrThrow();
    if (Number(today.n) >= config.INVITATION_DAILY_LIMIT)
      throw new InvitationError('invitation_limit_reached', `you can send ${config.INVITATION_DAILY_LIMIT} invitations per 24 hours; try again later`, {
        limit: config.INVITATION_DAILY_LIMIT,
      });
    const recent = await tx
      .selectFrom('contact_invitations')
      .select(['id', 'created_at'])
      .where('organization_id', '=', principal.organizationId)
      .where('email', '=', email)
      .where('status', 'in', counting)
      .where('created_at', '>', new Date(now.getTime() - config.INVITATION_REINVITE_DAYS * 86_400_000))
      .executeTakeFirst();
    if (recent)
      throw new InvitationError('recently_invited', `this address was invited less than ${config.INVITATION_REINVITE_DAYS} days ago`, {
        invitedAt: recent.created_at.toISOString(),
      });
    return tx
      .insertInto('contact_invitations')
      .values({
        organization_id: principal.organizationId,
        inviter_user_id: principal.userId,
        connection_id: contact.connection_id,
        contact_id: contact.id,
        email,
        channel,
        status: 'pending',
        token_hash: hashInvitationToken(token),
        expires_at: expiresAt,
        created_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
  });

  crash.afterInsert?.();
  const fields: InvitationFields = {
    inviterName: contact.inviter_name?.trim() || contact.inviter_email,
    organizationName: contact.org_name,
    link: invitationUrl(config.PUBLIC_BASE_URL, token),
    recipientEmail: email,
  };
  const oauth = platforms.oauth(contact.platform);
  const tokens = channel === 'mailbox' && oauth ? connectionTokens(services, oauth, contact.platform) : null;
  const sending = services.gate.send<{ messageId: string | null }>(
    { connectionId: contact.connection_id, purpose: INVITATION_PURPOSE, actor: { kind: 'user', userId: principal.userId } },
    {
      operation: 'create',
      categories: ['contacts.invite'],
      subjects: { contactIds: [contact.id] },
      recipient: { account: email, destination: channel === 'mailbox' ? 'mailbox' : 'smtp', suppressible: true },
      fields: { ...fields },
      itemKey: `invitation:${invitation.id}`,
    },
    async (minimised) => {
      // Built from what the gate released, nothing else.
      const message = invitationMessage(minimised as unknown as InvitationFields, expiresAt);
      const to = String(minimised.recipientEmail);
      if (channel === 'mailbox') {
        const sent = await mailbox!.send(
          { config, accessToken: () => (tokens ? tokens.get(contact.connection_id) : Promise.reject(new Error('no access token'))) },
          { to, subject: message.subject, text: message.text, html: message.html },
        );
        return { value: { messageId: null }, status: sent.status, bytes: sent.bytes };
      }
      const sent = await smtp!.send({ to, subject: message.subject, text: message.text, html: message.html, headers: message.headers });
      return { value: { messageId: sent.messageId }, status: 250, bytes: sent.bytes, remoteId: sent.messageId || null };
    },
  );

  // The gate itself failing (e.g. the log could not be written): the attempt is over, not pending.
  const result = await sending.catch(async (err: unknown) => {
    await db.updateTable('contact_invitations').set({ status: 'failed', reason: 'gate_error' }).where('id', '=', invitation.id).execute();
    throw err;
  });
  crash.afterSend?.();
  if (result.outcome === 'sent') {
    const row = await db.transaction().execute(async (tx) => {
      await tx.updateTable('imported_contacts').set({ invited_at: new Date() }).where('id', '=', contact.id).execute();
      const sent = await tx
        .updateTable('contact_invitations')
        .set({ status: 'sent', sent_at: new Date(), transfer_id: result.transferId })
        .where('id', '=', invitation.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      // The platform hears of it in the same commit (the webhook outbox).
      await emitInvitationEvent(tx, {
        organizationId: sent.organization_id,
        kind: 'sent',
        invitationId: sent.id,
        connectionId: contact.connection_id,
        contactId: contact.id,
        userId: principal.userId,
      });
      return sent;
    });
    return toView(row);
  }
  const reason = result.outcome === 'blocked' ? result.reason : result.logged;
  await db
    .updateTable('contact_invitations')
    .set({ status: result.outcome === 'blocked' ? 'blocked' : 'failed', reason, transfer_id: result.transferId })
    .where('id', '=', invitation.id)
    .execute();
  if (result.outcome === 'blocked') {
    const [code, message] = BLOCK_CODES[result.reason] ?? ['invitation_blocked', `the invitation was not sent: ${result.reason}`];
    throw new InvitationError(code, message, { reason: result.reason, transferId: result.transferId });
  }
  services.logger.warn({ invitationId: invitation.id, connectionId: contact.connection_id, outcome: result.logged }, 'invitation e-mail not delivered');
  throw new InvitationError('invitation_delivery_failed', 'the invitation e-mail could not be delivered; you can try again', {
    transferId: result.transferId,
    logged: result.logged,
  });
}

/** The caller's invitations, newest first (small lists: at most the daily limit per day). */
/** A page of the invitations the user sent, newest first (keyset on created_at, id; see src/db/page-cursor.ts). */
export async function listInvitations(
  services: Services,
  principal: UserPrincipal,
  params: { contactId?: string | undefined; limit: number; cursor: TimeIdCursor | null },
): Promise<{ items: InvitationView[]; nextCursor: string | null }> {
  const keyset = timeIdKeyset('contact_invitations');
  let q = services.db
    .selectFrom('contact_invitations')
    .selectAll()
    .where('organization_id', '=', principal.organizationId)
    .where('inviter_user_id', '=', principal.userId);
  if (params.contactId) q = q.where('contact_id', '=', params.contactId);
  if (params.cursor) q = q.where(keyset.after(params.cursor));
  const rows = await q
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(params.limit + 1)
    .execute();
  return { items: rows.slice(0, params.limit).map(toView), nextCursor: nextTimeIdCursor(rows, params.limit) };
}

async function byToken(services: Services, token: string) {
  if (!TOKEN_SHAPE.test(token)) return null;
  return services.db
    .selectFrom('contact_invitations as i')
    .innerJoin('organizations as o', 'o.id', 'i.organization_id')
    .innerJoin('users as u', 'u.id', 'i.inviter_user_id')
    .select(['i.id', 'i.organization_id', 'i.email', 'i.status', 'i.expires_at', 'o.name as org_name', 'u.name as inviter_name', 'u.email as inviter_email'])
    .where('i.token_hash', '=', hashInvitationToken(token))
    .executeTakeFirst();
}

/** What the invitee sees before accepting (no session: the token is the credential). */
export async function viewInvitation(services: Services, token: string, now = new Date()) {
  const r = await byToken(services, token);
  if (!r || (r.status !== 'sent' && r.status !== 'accepted')) throw new InvitationError('invitation_not_found', 'this invitation does not exist');
  const state = r.status === 'accepted' ? 'accepted' : r.expires_at <= now ? 'expired' : 'open';
  return {
    organizationName: r.org_name,
    inviterName: r.inviter_name?.trim() || r.inviter_email,
    email: r.email,
    state,
    expiresAt: r.expires_at.toISOString(),
  };
}

/**
 * Accepts an invitation: once, before it expires. Creates the membership (unless the address is
 * already a member) and answers a single-use sign-in link for the organization's sign-in methods.
 */
export async function acceptInvitation(services: Services, token: string, now = new Date()) {
  const { db, config } = services;
  return db.transaction().execute(async (tx) => {
    const r = TOKEN_SHAPE.test(token)
      ? await tx
          .selectFrom('contact_invitations')
          .select(['id', 'organization_id', 'email', 'status', 'expires_at', 'inviter_user_id'])
          .where('token_hash', '=', hashInvitationToken(token))
          .forUpdate()
          .executeTakeFirst()
      : undefined;
    if (!r || (r.status !== 'sent' && r.status !== 'accepted')) throw new InvitationError('invitation_not_found', 'this invitation does not exist');
    if (r.status === 'accepted') throw new InvitationError('invitation_used', 'this invitation was already accepted; sign in instead');
    if (r.expires_at <= now) throw new InvitationError('invitation_expired', 'this invitation has expired; ask for a new one');
    let user = await tx
      .selectFrom('users')
      .select(['id', 'email', 'status'])
      .where('organization_id', '=', r.organization_id)
      .where((eb) => eb(eb.fn('lower', ['email']), '=', r.email))
      .executeTakeFirst();
    if (user?.status === 'disabled') throw new InvitationError('user_disabled', 'this account is disabled in the organization');
    const created = !user;
    if (!user) {
      user = await tx
        .insertInto('users')
        .values({ organization_id: r.organization_id, email: r.email, name: null, role: 'member', picture_url: null })
        .returning(['id', 'email', 'status'])
        .executeTakeFirstOrThrow();
    }
    await tx.updateTable('contact_invitations').set({ status: 'accepted', accepted_at: now, accepted_user_id: user.id }).where('id', '=', r.id).execute();
    await emitInvitationEvent(tx, { organizationId: r.organization_id, kind: 'accepted', invitationId: r.id, userId: user.id });
    await recordAudit(tx, {
      organizationId: r.organization_id,
      actor: { kind: 'system', reason: 'invitation_accepted' },
      action: 'invitation.accepted',
      target: user.id,
      details: { invitationId: r.id, invitedBy: r.inviter_user_id, membershipCreated: created },
    });
    const link = await issueSignInLink(tx, { userId: user.id, ttlHours: config.SIGN_IN_LINK_TTL_HOURS, createdBy: `invitation:${r.id}`, now });
    return {
      userId: user.id,
      email: user.email,
      membershipCreated: created,
      signInUrl: signInLinkUrl(config.PUBLIC_BASE_URL, link.token),
      signInExpiresAt: link.expiresAt.toISOString(),
    };
  });
}

/**
 * Opts the invitation's address out of every further invitation from the organization (idempotent;
 * works whatever the invitation's state, also after it expired or was accepted).
 */
export async function optOut(services: Services, token: string): Promise<{ email: string }> {
  const r = await byToken(services, token);
  if (!r) throw new InvitationError('invitation_not_found', 'this invitation does not exist');
  await services.db
    .insertInto('invitation_suppressions')
    .values({ organization_id: r.organization_id, email: r.email, invitation_id: r.id })
    .onConflict((oc) => oc.columns(['organization_id', 'email']).doNothing())
    .execute();
  return { email: r.email };
}

/** A page of the caller's imported contacts, by name (cursor: the last row's name and id). */
export async function listImportedContacts(
  services: Services,
  principal: UserPrincipal,
  params: { limit: number; cursor?: string; connectionId?: string },
): Promise<{ items: ImportedContactView[]; nextCursor: string | null }> {
  let q = services.db
    .selectFrom('imported_contacts')
    .select(['id', 'connection_id', 'display_name', 'emails', 'company', 'job_title', 'phones', 'matched_user_id', 'invited_at', 'created_at', 'updated_at'])
    .where('organization_id', '=', principal.organizationId)
    .where('user_id', '=', principal.userId);
  if (params.connectionId) q = q.where('connection_id', '=', params.connectionId);
  if (params.cursor) {
    const c = decodeContactCursor(params.cursor);
    if (!c) throw new InvitationError('invalid_cursor', 'the cursor is not one this API returned');
    q = q.where((eb) => eb.or([eb('display_name', '>', c.name), eb.and([eb('display_name', '=', c.name), eb('id', '>', c.id)])]));
  }
  const rows = await q
    .orderBy('display_name')
    .orderBy('id')
    .limit(params.limit + 1)
    .execute();
  const items = rows.slice(0, params.limit).map((r) => ({
    id: r.id,
    connectionId: r.connection_id,
    name: r.display_name,
    emails: r.emails,
    company: r.company,
    jobTitle: r.job_title,
    phones: r.phones,
    member: r.matched_user_id !== null,
    invitedAt: r.invited_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  }));
  const last = items.at(-1);
  return { items, nextCursor: rows.length > params.limit && last ? Buffer.from(JSON.stringify([last.name, last.id])).toString('base64url') : null };
}

export interface ImportedContactView {
  id: string;
  connectionId: string;
  name: string;
  emails: string[];
  company: string | null;
  jobTitle: string | null;
  phones: string[];
  member: boolean;
  invitedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function decodeContactCursor(cursor: string): { name: string; id: string } | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && UUID.test(v[1])) return { name: v[0], id: v[1] };
  } catch {
    // not ours
  }
  return null;
}
