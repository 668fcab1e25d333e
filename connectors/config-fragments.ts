import type { ConnectorConfigFragment } from './config-fragment.ts';
import { googleCalendarConfig } from './google-calendar/config.ts';
import { icalConfig } from './ical/config.ts';
import { outlookContactsConfig } from './outlook-contacts/config.ts';
import { imanageConfig } from './imanage/config.ts';

/**
 * Every connector's configuration fragment, by platform id. A separate list from
 * `connectors/registry.ts` because the configuration schema imports it: it must not pull in the
 * connectors themselves (they depend on the configuration).
 */
export const connectorConfigs = {
  google_calendar: googleCalendarConfig,
  ical: icalConfig,
  outlook_contacts: outlookContactsConfig,
  imanage: imanageConfig,
} satisfies Record<string, ConnectorConfigFragment>;

/** The variables of every connector, merged into the one configuration schema. */
export const connectorConfigShape = {
  ...googleCalendarConfig.schema.shape,
  ...icalConfig.schema.shape,
  ...outlookContactsConfig.schema.shape,
  ...imanageConfig.schema.shape,
};

/** A platform's fragment, if it has one. */
export function connectorConfigFor(platform: string): ConnectorConfigFragment | undefined {
  return (connectorConfigs as Record<string, ConnectorConfigFragment>)[platform];
}
