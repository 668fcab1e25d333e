import { z } from 'zod';
import type { ConnectorConfigFragment } from '../config-fragment.ts';

const positiveInt = z.coerce.number().int().positive();

/**
 * iManage Work's variables. The server itself (its host) is chosen per organization by an
 * administrator and stored on the connection; these are the deployment's client registration and
 * limits. Kept free of imports beyond zod (the configuration schema imports this fragment).
 */
export const imanageConfig = {
  schema: z.object({
    /** OAuth client registered on the firm's iManage server (the sandbox's when only SANDBOX_URL is set). */
    IMANAGE_CLIENT_ID: z.string().min(1).optional(),
    IMANAGE_CLIENT_SECRET: z.string().min(1).optional(),
    /**
     * Allows `http://` and private or loopback server addresses (the sandbox). Off by default: the
     * host is chosen by a user, and the service must not be turned against the internal network.
     */
    IMANAGE_ALLOW_PRIVATE_HOSTS: z
      .enum(['true', 'false', '1', '0'])
      .transform((v) => v === 'true' || v === '1')
      .default(false),
    /** Requests per firm server per minute (rate limits are not published: stay polite). */
    IMANAGE_RATE_PER_MINUTE: positiveInt.default(600),
    /** Default name of the folder documents are filed into in each matter workspace. */
    IMANAGE_FOLDER_NAME: z.string().min(1).max(254).default('Casebridge'),
  }),
  rateBudgetVariables: { perAccount: 'IMANAGE_RATE_PER_MINUTE' },
} satisfies ConnectorConfigFragment;
