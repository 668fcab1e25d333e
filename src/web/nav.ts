/**
 * Navigation entries brought by connectors' pages (e.g. the iCal feeds page), registered by
 * `createWebPages` from the connector registry. The layout reads them here so that it — imported by
 * every page, connector pages included — never imports the registry itself.
 */
export interface NavEntry {
  id: string;
  href: string;
  label: string;
}

const entries: NavEntry[] = [];

/** Adds an entry once (by id); later registrations of the same id are ignored. */
export function registerNavEntry(entry: NavEntry): void {
  if (!entries.some((e) => e.id === entry.id)) entries.push(entry);
}

/** The connector entries, in registration order. */
export function connectorNavEntries(): readonly NavEntry[] {
  return entries;
}
