import { z } from 'zod';
import type { ConnectorManifest, ConnectorSettings } from '../types.ts';

/** Outlook contacts: a pulled platform — a user's address book imported through Microsoft Graph. */
export const manifest: ConnectorManifest = {
  id: 'outlook_contacts',
  displayName: 'Outlook contacts',
  authKind: 'oauth2',
  categories: ['contacts.import', 'contacts.invite'],
  defaultCategories: ['contacts.import'],
  // Nothing of the case data flows to Outlook: no case-data change triggers a run.
  triggers: [],
  capabilities: ['pull'],
  // Outlook's per-app-per-mailbox limits (a raised limit: OUTLOOK_MAILBOX_RATE_PER_10_MINUTES).
  rateBudgets: { perAccount: { limit: 10_000, windowSeconds: 600, concurrency: 4 } },
  // Microsoft has no endpoint that revokes a delegated grant's tokens.
  providerRevoke: false,
};

/**
 * Scopes: `openid email` only to learn which account signed in (from the ID token, no Graph call);
 * `offline_access` for a refresh token; `Contacts.Read` to import; `Mail.Send` only when the user
 * chose to send invitations from their own mailbox.
 */
export const MICROSOFT_SCOPES = {
  base: ['openid', 'email', 'offline_access', 'User.Read', 'Contacts.Read'],
  sendMail: 'Mail.Send',
} as const;

export const createSettingsSchema = z
  .object({
    /** Send invitations from the user's own mailbox through Graph (adds the Mail.Send scope). */
    sendInvitationsFromMailbox: z.boolean().default(false),
  })
  .strict();

export interface OutlookContactsSettings {
  sendInvitationsFromMailbox?: boolean;
}

export const settings: ConnectorSettings = {
  create: createSettingsSchema as unknown as z.ZodType<Record<string, unknown>>,
  // The scope set is fixed at consent time: another choice is a reconnect, not a patch.
  patch: z.object({}).strict() as unknown as z.ZodType<Record<string, unknown>>,
  view: (raw) => ({ sendInvitationsFromMailbox: (raw as OutlookContactsSettings).sendInvitationsFromMailbox ?? false }),
  destination: () => null,
};
