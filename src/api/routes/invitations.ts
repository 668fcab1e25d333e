import { createRoute, z } from '@hono/zod-openapi';
import type { UserPrincipal } from '../../auth/principal.ts';
import { acceptInvitation, listInvitations, optOut, viewInvitation } from '../../invitations/service.ts';
import type { RouteModule } from '../env.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { decodePageCursor, pageOf, pageQuery } from '../pagination.ts';
import { InvitationSchema } from '../schemas/invitations.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * Invitations of imported contacts (issue 15; sending one is in `imported-contacts.ts`):
 * - `GET /v1/invitations` — the caller's invitations;
 * - public, the token being the credential (it is in the path, which request logs never show):
 *   `GET /v1/invitations/{token}`, `POST /v1/invitations/{token}/accept`,
 *   `POST /v1/invitations/{token}/opt-out` (also the one-click `List-Unsubscribe-Post` target).
 */

const TokenParam = z.object({ token: z.string().min(1).max(100) });

export const invitationRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invitations',
      operationId: 'listInvitations',
      description:
        'The invitations you sent, newest first, with their status (pending, sent, failed, blocked, accepted) and the transfer-log row of each e-mail.',
      tags: ['Invitations'],
      summary: 'Invitations you sent (newest first)',
      ...auth,
      request: { query: pageQuery().extend({ contactId: z.uuid().optional() }) },
      responses: {
        200: {
          description: 'Your invitations',
          content: {
            'application/json': {
              schema: pageOf(InvitationSchema, 'InvitationPage'),
            },
          },
        },
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const { contactId, limit, cursor } = c.req.valid('query');
      const page = await listInvitations(services, c.get('principal') as UserPrincipal, { contactId, limit, cursor: decodePageCursor(cursor) });
      return c.json(page, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invitations/{token}',
      operationId: 'viewInvitation',
      description:
        'What the addressee of an invitation sees before accepting: who invites them to which organization, and whether the invitation is still open. The token from the e-mail is the credential; no sign-in.',
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
      operationId: 'acceptInvitation',
      description:
        'Accepts an invitation once: creates the membership in the organization (or finds the existing one) and answers a single-use sign-in link, so the person then signs in through the organization\u2019s own sign-in methods. A used or expired invitation is refused.',
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
        409: err('`invitation_used`, `user_disabled`'),
        410: err('`invitation_expired`: the invitation is past its expiry; ask for a new one'),
      },
    }),
    async (c) => c.json(await acceptInvitation(services, c.req.valid('param').token), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/invitations/{token}/opt-out',
      operationId: 'optOutOfInvitations',
      description:
        'Puts the invitation\u2019s address on the organization\u2019s suppression list: the outbound gate refuses any later invitation to it. Idempotent; also the one-click List-Unsubscribe-Post target.',
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
