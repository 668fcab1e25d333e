import type { ConnectorManifest } from '../types.ts';

/**
 * The iCal subscription feed: a secret URL any calendar app (Apple Calendar, Outlook, Google
 * Calendar "From URL", Thunderbird…) polls. There is no provider account and no OAuth: the feed
 * token is the credential, and every fetch is an outbound transfer through the gate.
 */
export const icalManifest: ConnectorManifest = {
  id: 'ical',
  displayName: 'iCal subscription feed',
  authKind: 'feed_token',
  categories: ['calendar.events', 'calendar.events.details'],
  defaultCategories: ['calendar.events'],
  // Neither pushed nor pulled by our workers: the subscriber polls us and each fetch renders the feed
  // from current data, so no change triggers a run. Our own per-feed limit: ICAL_RATE_LIMIT_PER_MINUTE.
  triggers: [],
  capabilities: [],
  providerRevoke: false,
};

/** Purpose recorded on every transfer-log row of a feed fetch. */
export const ICAL_PURPOSE = 'ical_feed';

/** The transfer-log destination naming one feed as the recipient. */
export function feedDestination(feedId: string): string {
  return `ical-feed:${feedId}`;
}
