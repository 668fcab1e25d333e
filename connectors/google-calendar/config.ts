import { z } from 'zod';
import type { ConnectorConfigFragment } from '../config-fragment.ts';

const positiveInt = z.coerce.number().int().positive();

/**
 * Google Calendar's variables. The OAuth client (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and the
 * OAuth endpoints) is shared with Google Sign-In and stays in the core schema.
 */
export const googleCalendarConfig = {
  schema: z.object({
    /** Origin of the Calendar API (the sandbox's in tests; default from SANDBOX_URL or Google's). */
    GOOGLE_API_ROOT_URL: z.url().optional(),
    /** Google's per-user quota of the project (requests per minute); raises the manifest's 600. */
    GOOGLE_USER_RATE_PER_MINUTE: positiveInt.default(600),
    /** Google's per-project quota (requests per minute); raises the manifest's 10,000. */
    GOOGLE_PROJECT_RATE_PER_MINUTE: positiveInt.default(10_000),
    /** Name of the dedicated calendar created when a user connects without choosing one. */
    GOOGLE_CALENDAR_NAME: z.string().min(1).default('Cases'),
    /**
     * How long a Calendar write (insert, patch, delete) may go unanswered before the call is given up
     * as of unknown outcome (the transfer log's write check then reads Google). Reads keep 30 s.
     */
    GOOGLE_WRITE_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(120_000).default(10_000),
  }),
  rateBudgetVariables: { perAccount: 'GOOGLE_USER_RATE_PER_MINUTE', perProject: 'GOOGLE_PROJECT_RATE_PER_MINUTE' },
} satisfies ConnectorConfigFragment;
