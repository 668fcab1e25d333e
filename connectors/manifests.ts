import { manifest as googleCalendar } from './google-calendar/manifest.ts';
import { icalManifest as ical } from './ical/manifest.ts';
import { manifest as imanage } from './imanage/manifest.ts';
import { manifest as outlookContacts } from './outlook-contacts/manifest.ts';
import type { ConnectorManifest } from './types.ts';

/**
 * The connectors' manifests alone, for modules that need a platform's declared facts (its level)
 * but are imported by connectors themselves (the connections access rule, via the revocation
 * service): this list reaches only leaf modules. The architecture test checks it matches
 * `connectors/registry.ts`.
 */
export const manifests: ConnectorManifest[] = [googleCalendar, ical, outlookContacts, imanage];

export function manifestFor(platform: string): ConnectorManifest | undefined {
  return manifests.find((m) => m.id === platform);
}
