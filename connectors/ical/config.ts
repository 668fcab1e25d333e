import { z } from 'zod';
import type { ConnectorConfigFragment } from '../config-fragment.ts';

const positiveInt = z.coerce.number().int().positive();

/** The iCal feed's variables. */
export const icalConfig = {
  schema: z.object({
    ICAL_REFRESH_INTERVAL_MINUTES: positiveInt.default(60),
    ICAL_RATE_LIMIT_PER_MINUTE: positiveInt.default(60),
    /** `Cache-Control: private, max-age=…` of feed responses (0 = clients revalidate every time). */
    ICAL_CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(0).default(300),
    /** Upper bound of the in-process cache of rendered feeds (approximate, in MiB). */
    ICAL_RENDER_CACHE_MB: positiveInt.default(64),
  }),
} satisfies ConnectorConfigFragment;
