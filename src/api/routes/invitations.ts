import { createRoute, z } from '@hono/zod-openapi';
import { connectorFor } from '../../../connectors/registry.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { sessionAuth } from '../../auth/sessions.ts';
import {
  acceptInvitation,
  type InvitationPlatforms,
  inviteContact,
  listImportedContacts,
  listInvitations,
  optOut,
  viewInvitation,
} from '../../invitations/service.ts';
import type { RouteModule } from '../env.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * Imported contacts and their invitations (issue 15):
 * - `GET /v1/imported-contacts` — the caller's imported contacts, by name, cursor-paginated
 *   (`{ items, nextCursor }`); never another user's or organization's;
 * - `POST /v1/imported-contacts/{id}/invitations` — invite one of them (gated by `contacts.invite`);
 * - `GET /v1/invitations` — the caller's invitations;
 * - public, the token being the credential (it is in the path, which request logs never show):
 *   `GET /v1/invitations/{token}`, `POST /v1/invitations/{token}/accept`,
 *   `POST /v1/invitations/{token}/opt-out` (also the one-click `List-Unsubscribe-Post` target).
 */

const platforms: InvitationPlatforms = {
  mailbox: (platform) => connectorFor(platform)?.mailbox,
  oauth: (platform) => connectorFor(platform)?.oauth,
};

const ImportedContactSchema = z
  .object({
    id: z.uuid(),
    connectionId: z.uuid(),
    name: z.string(),
    emails: z.array(z.string()),
    company: z.string().nullable(),
    jobTitle: z.string().nullable(),
    phones: z.array(z.string()),
    member: z.boolean().openapi({ description: 'already a member of the organization: no invitation needed' }),
    invitedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('ImportedContact');

const InvitationSchema = z
  .object({
    id: z.uuid(),
    contactId: z.uuid().nullable(),
    email: z.string(),
    channel: z.enum(['smtp', 'mailbox']),
    status: z.enum(['pending', 'sent', 'failed', 'blocked', 'accepted']),
    reason: z.string().nullable(),
    transferId: z.uuid().nullable().openapi({ description: 'the transfer-log row of the e-mail' }),
    expiresAt: z.string(),
    sentAt: z.string().nullable(),
    acceptedAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('Invitation');

const TokenParam = z.object({ token: z.string().min(1).max(100) });

export const invitationRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/imported-contacts',
      tags: ['Invitations'],
      summary: 'Your imported contacts (address books you connected), by name',
      ...auth,
      request: {
        query: z.object({
          connectionId: z.uuid().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          cursor: z.string().max(1000).optional(),
        }),
      },
      responses: {
        200: {
          description: 'A page; pass `nextCursor` as `cursor` for the next one',
          content: { 'application/json': { schema: z.object({ items: z.array(ImportedContactSchema), nextCursor: z.string().nullable() }) } },
        },
        400: err('`validation_failed`, `invalid_cursor`'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listImportedContacts(services, c.get('principal') as UserPrincipal, q);
      return c.json(page, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/imported-contacts/{id}/invitations',
      tags: ['Invitations'],
      summary: 'Invite an imported contact to your organization (an e-mail, gated by the contacts.invite consent)',
      ...auth,
      request: {
        params: z.object({ id: z.uuid() }),
        body: {
          required: false,
          content: {
            'application/json': {
              schema: z
                .object({ email: z.email().max(320).optional().openapi({ description: "one of the contact's addresses (default: the first)" }) })
                .strict(),
            },
          },
        },
      },
      responses: {
        201: { description: 'Sent', content: { 'application/json': { schema: z.object({ invitation: InvitationSchema }) } } },
        400: err('`validation_failed`'),
        401: err('Not signed in'),
        403: err(
          '`invite_consent_required` (grant contacts.invite first), `recipient_opted_out`, `invitation_blocked` (the connection is not active…); logged as `blocked`',
        ),
        404: err('`not_found` (not one of your imported contacts)'),
        409: err('`already_member`, `recently_invited` (within INVITATION_REINVITE_DAYS)'),
        422: err('`no_email_address`, `email_not_of_contact`'),
        429: err('`invitation_limit_reached` (INVITATION_DAILY_LIMIT per 24 hours)'),
        502: err('`invitation_delivery_failed` (the mail server or mailbox did not take it; logged)'),
        503: err('`invitation_channel_unavailable` (no SMTP_URL and no mailbox sending)'),
      },
    }),
    async (c) => {
      const body = c.req.header('content-type')?.includes('application/json') ? c.req.valid('json') : {};
      const invitation = await inviteContact(services, platforms, c.get('principal') as UserPrincipal, {
        contactId: c.req.valid('param').id,
        email: body?.email,
      });
      return c.json({ invitation }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invitations',
      tags: ['Invitations'],
      summary: 'Invitations you sent (newest first)',
      ...auth,
      request: { query: z.object({ contactId: z.uuid().optional() }) },
      responses: {
        200: { description: 'Your invitations', content: { 'application/json': { schema: z.object({ items: z.array(InvitationSchema) }) } } },
        401: err('Not signed in'),
      },
    }),
    async (c) => c.json({ items: await listInvitations(services, c.get('principal') as UserPrincipal, c.req.valid('query')) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invitations/{token}',
      tags: ['Invitations'],
      summary: 'An invitation as its addressee sees it (the token is the credential)',
      request: { params: TokenParam },
      responses: {
        200: {
          description: 'The invitation',
          content: {
            'application/json': {
              schema: z.object({
                invitation: z.object({
                  organizationName: z.string(),
                  inviterName: z.string(),
                  email: z.string(),
                  state: z.enum(['open', 'expired', 'accepted']),
                  expiresAt: z.string(),
                }),
                accept: z.object({ method: z.literal('POST'), href: z.string() }),
                optOut: z.object({ method: z.literal('POST'), href: z.string() }),
              }),
            },
          },
        },
        404: err('`invitation_not_found`'),
      },
    }),
    async (c) => {
      const { token } = c.req.valid('param');
      const invitation = await viewInvitation(services, token);
      return c.json(
        {
          invitation: { ...invitation, state: invitation.state as 'open' | 'expired' | 'accepted' },
          accept: { method: 'POST' as const, href: `/v1/invitations/${token}/accept` },
          optOut: { method: 'POST' as const, href: `/v1/invitations/${token}/opt-out` },
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/invitations/{token}/accept',
      tags: ['Invitations'],
      summary: 'Accept an invitation: creates the membership and answers a single-use sign-in link',
      request: { params: TokenParam },
      responses: {
        200: {
          description: 'Accepted; sign in through the organization’s sign-in methods with the link',
          content: {
            'application/json': {
              schema: z.object({
                userId: z.uuid(),
                email: z.string(),
                membershipCreated: z.boolean(),
                signInUrl: z.string(),
                signInExpiresAt: z.string(),
              }),
            },
          },
        },
        404: err('`invitation_not_found`'),
        409: err('`invitation_used`, `invitation_expired`, `user_disabled`'),
      },
    }),
    async (c) => c.json(await acceptInvitation(services, c.req.valid('param').token), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/invitations/{token}/opt-out',
      tags: ['Invitations'],
      summary: 'Never invite this address to the organization again (idempotent)',
      request: { params: TokenParam },
      responses: {
        200: { description: 'Opted out', content: { 'application/json': { schema: z.object({ optedOut: z.literal(true), email: z.string() }) } } },
        404: err('`invitation_not_found`'),
      },
    }),
    async (c) => {
      const { email } = await optOut(services, c.req.valid('param').token);
      return c.json({ optedOut: true as const, email }, 200);
    },
  );
};
