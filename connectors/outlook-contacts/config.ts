import { z } from 'zod';
import type { ConnectorConfigFragment } from '../config-fragment.ts';

/**
 * Outlook contacts' variables: the app registration at the Microsoft identity platform and where
 * the identity platform and Graph live (the sandbox's when SANDBOX_URL is set and these are not).
 */
export const outlookContactsConfig = {
  schema: z.object({
    /** Application (client) id of the app registration; the sandbox's own client when only SANDBOX_URL is set. */
    MICROSOFT_CLIENT_ID: z.string().min(1).optional(),
    /** Client secret of the app registration. */
    MICROSOFT_CLIENT_SECRET: z.string().min(1).optional(),
    /** Tenant in the authority path: `common` (work and personal accounts), `organizations`, `consumers` or a tenant id. */
    MICROSOFT_TENANT: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,100}$/, 'a tenant id, a domain, common, organizations or consumers')
      .default('common'),
    /** Authority base URL (default https://login.microsoftonline.com, or the sandbox's). */
    MICROSOFT_AUTHORITY_URL: z.url().optional(),
    /** Graph base URL without the version (default https://graph.microsoft.com, or the sandbox's). */
    GRAPH_BASE_URL: z.url().optional(),
    /** Requests per mailbox per 10 minutes (Outlook's limit); overrides the manifest's 10,000. */
    OUTLOOK_MAILBOX_RATE_PER_10_MINUTES: z.coerce.number().int().positive().default(10_000),
  }),
  rateBudgetVariables: { perAccount: 'OUTLOOK_MAILBOX_RATE_PER_10_MINUTES' },
} satisfies ConnectorConfigFragment;
