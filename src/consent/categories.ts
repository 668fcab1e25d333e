/**
 * The one registry of data categories a user can consent to. Each names the fields it releases;
 * the outbound gate minimises every payload to the union of the consented categories' fields, so
 * "only as much as required" is the default and more is an explicit choice. Connectors declare
 * which of these ids they can carry; the consent screen shows `title` and `description`.
 */

export interface DataCategory {
  id: CategoryId;
  title: string;
  /** Plain language, for the consent screen. */
  description: string;
  direction: 'outbound' | 'inbound';
  /** Field names the category releases; payloads are keyed by these names. */
  fields: readonly string[];
  /** A statement the user must attest to when granting this category. */
  attestation?: string;
}

export const CATEGORY_IDS = [
  'calendar.events',
  'calendar.events.details',
  'documents.files',
  'documents.metadata',
  'contacts.import',
  'contacts.invite',
] as const;

export type CategoryId = (typeof CATEGORY_IDS)[number];

export const CATEGORIES: Record<CategoryId, DataCategory> = {
  'calendar.events': {
    id: 'calendar.events',
    title: 'Case calendar entries',
    description:
      'The title, date and time (with time zone, or the day for all-day deadlines), location and case number of the court dates, deadlines, depositions and meetings of your cases.',
    direction: 'outbound',
    fields: ['title', 'start', 'end', 'allDay', 'timeZone', 'location', 'caseNumber'],
  },
  'calendar.events.details': {
    id: 'calendar.events.details',
    title: 'Calendar entry details',
    description: 'The description of each calendar entry and the names of its participants (for example witnesses or opposing counsel).',
    direction: 'outbound',
    fields: ['description', 'participantNames'],
  },
  'documents.files': {
    id: 'documents.files',
    title: 'Document files',
    description: 'The content and file name of the documents of your cases, filed under the case number.',
    direction: 'outbound',
    fields: ['content', 'fileName', 'caseNumber'],
  },
  'documents.metadata': {
    id: 'documents.metadata',
    title: 'Document details',
    description: 'The title, author and dates of the documents of your cases.',
    direction: 'outbound',
    fields: ['title', 'author', 'documentDate'],
  },
  'contacts.import': {
    id: 'contacts.import',
    title: 'Import your address book',
    description:
      'Read the contacts of your address book into Casebridge: only their names, e-mail addresses, company, job title and phone numbers (never notes, birthdays, photos or home addresses).',
    direction: 'inbound',
    fields: ['name', 'emails', 'company', 'jobTitle', 'phones'],
    attestation: 'I have the legal right to import these contacts',
  },
  'contacts.invite': {
    id: 'contacts.invite',
    title: 'Invite imported contacts',
    description: "Send an invitation e-mail to a contact you imported: your name, your organization's name and a link to join, to that contact's address.",
    direction: 'outbound',
    fields: ['inviterName', 'organizationName', 'link', 'recipientEmail'],
  },
};

export function isCategoryId(value: string): value is CategoryId {
  return (CATEGORY_IDS as readonly string[]).includes(value);
}

/** Union of the fields the given categories release. */
export function allowedFields(categories: readonly CategoryId[]): Set<string> {
  const out = new Set<string>();
  for (const id of categories) for (const f of CATEGORIES[id].fields) out.add(f);
  return out;
}
