import { createRoute, z } from '@hono/zod-openapi';
import { connectorFor } from '../../../connectors/registry.ts';
import type { UserPrincipal } from '../../auth/principal.ts';
import { type InvitationPlatforms, inviteContact, listImportedContacts } from '../../invitations/service.ts';
import type { RouteModule } from '../env.ts';
import { sessionAuth } from '../middleware/session-auth.ts';
import { ImportedContactSchema, InvitationSchema } from '../schemas/invitations.ts';
import { errorResponse as err } from '../schemas.ts';

/**
 * A user's imported contacts (issue 15): `GET /v1/imported-contacts` — the caller's own, by name,
 * `{ items, nextCursor }`; `POST /v1/imported-contacts/{id}/invitations` — invite one of them
 * (gated by `contacts.invite`). The invitation's own routes are in `invitations.ts`.
 */

const platforms: InvitationPlatforms = {
  mailbox: (platform) => connectorFor(platform)?.mailbox,
  oauth: (platform) => connectorFor(platform)?.oauth,
};

export const importedContactRoutes: RouteModule = (app, services) => {
  const auth = { middleware: [sessionAuth(services.sessions)], security: [{ session: [] }] };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/imported-contacts',
      operationId: 'listImportedContacts',
      description:
        'The contacts you imported from the address books you connected (e.g. a mail account), sorted by name, a page at a time. Only the minimised fields are kept (name, e-mail addresses, company, job title, phone numbers). Another user\u2019s or organization\u2019s contacts are never listed.',
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
      operationId: 'inviteImportedContact',
      description:
        'Sends one invitation e-mail to an imported contact, by SMTP or from your mailbox (Graph sendMail) as chosen at connect. It is an outbound transfer: gated by the contacts.invite consent, refused for addresses that opted out, limited per day and never repeated within 7 days, and logged with the recipient and the fields sent.',
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
};
