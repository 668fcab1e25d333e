import { z } from '@hono/zod-openapi';

/** Imported contacts and invitations, as the API answers them. */

export const ImportedContactSchema = z
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

export const InvitationSchema = z
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
