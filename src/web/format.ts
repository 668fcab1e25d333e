/**
 * Formatting shared by the pages (core and connector-brought): no domain imports, so a connector's
 * page can use it without pulling the registry in.
 */

/** "just now", "5 minutes ago", "on 4 Dec 2026". */
export function relative(at: Date, now: Date = new Date()): string {
  const s = Math.round((now.getTime() - at.getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} minute${Math.round(s / 60) === 1 ? '' : 's'} ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} hour${Math.round(s / 3600) === 1 ? '' : 's'} ago`;
  return `on ${shortDate(at)}`;
}

/** One formatter for every call: `toLocaleDateString` with options builds a new one each time (~60 µs). */
const SHORT_DATE = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** "4 Dec 2026" (UTC). */
export function shortDate(at: Date): string {
  return SHORT_DATE.format(at);
}

/** Plain-language label of a registry field name, for previews and the shared-data page. */
export function fieldLabel(name: string): string {
  return FIELD_LABELS[name] ?? name;
}

const FIELD_LABELS: Record<string, string> = {
  title: 'Title',
  start: 'Starts',
  end: 'Ends',
  allDay: 'All day',
  timeZone: 'Time zone',
  location: 'Location',
  caseNumber: 'Case number',
  description: 'Description',
  participantNames: 'Participant names',
  fileName: 'File name',
  content: 'File content',
  author: 'Author',
  documentDate: 'Document date',
  name: 'Name',
  emails: 'E-mail addresses',
  email: 'E-mail address',
  phones: 'Phone numbers',
  organization: 'Organization',
};
