import { z } from '@hono/zod-openapi';
import { pageOf } from '../pagination.ts';

/** A user as the organization's administrators see it, and the answers of the user administration routes. */

export const UserSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    pictureUrl: z.string().nullable(),
    role: z.enum(['member', 'admin']),
    status: z.enum(['active', 'disabled']),
    createdAt: z.string(),
    lastLoginAt: z.string().nullable(),
    identities: z.array(
      z.object({
        id: z.uuid(),
        provider: z.string(),
        issuer: z.string().describe("Google's issuer, or the SAML IdP entity id"),
        subject: z.string().describe('Google account id, or the SAML NameID'),
        lastLoginAt: z.string().nullable(),
      }),
    ),
  })
  .openapi('User');

/** A page of the organization's users, by e-mail address. */
export const UserListSchema = pageOf(UserSchema, 'UserPage');

export const UserIdParams = z.object({ id: z.uuid() });

export const UserIdentityParams = z.object({ id: z.uuid(), identityId: z.uuid() });

/** `PATCH /v1/admin/users/{id}`: a new role, a new status, or both. */
export const UserUpdateSchema = z
  .object({ role: z.enum(['member', 'admin']).optional(), status: z.enum(['active', 'disabled']).optional() })
  .strict()
  .refine((b) => b.role !== undefined || b.status !== undefined, { message: 'give role and/or status' });

export const UserUpdatedSchema = z.object({ user: z.object({ id: z.uuid(), role: z.string(), status: z.string() }), sessionsEnded: z.number() });

export const IdentityUnlinkedSchema = z.object({
  identity: z.object({ id: z.uuid(), provider: z.string(), issuer: z.string(), subject: z.string() }),
  sessionsEnded: z.number(),
});
