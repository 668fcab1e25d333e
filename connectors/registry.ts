import { googleCalendar } from './google-calendar/index.ts';
import { icalConnector } from './ical/index.ts';
import { imanageConnector } from './imanage/index.ts';
import { outlookContacts } from './outlook-contacts/index.ts';
import type { Connector } from './types.ts';

/** Every Additional Platform. Adding one is a folder under connectors/ and a line here. */
export const connectors: Connector[] = [googleCalendar, icalConnector, outlookContacts, imanageConnector];

export function connectorFor(platform: string): Connector | undefined {
  return connectors.find((c) => c.manifest.id === platform);
}
