import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { type SubjectAccessReport, type SubjectAccessTransfer, type SubjectParam, subjectAccessReport, tallyCounterparties } from './queries.ts';

/** Subjects looked up per person at most (the report says when there were more). */
export const MAX_SUBJECTS_PER_PERSON = 200;

/** The data subjects an e-mail address names in an organization's records. */
export interface PersonSubjects {
  email: string;
  /** Case-management contacts with this address. */
  contacts: Array<{ id: string; name: string }>;
  /** Contacts imported from users' address books with this address. */
  importedContacts: Array<{ id: string; name: string }>;
  /** Case events naming this address as a participant. */
  events: Array<{ id: string; title: string }>;
  /** The organization's user with this address, if any. */
  user: { id: string; name: string | null } | null;
  /** True when more subjects matched than {@link MAX_SUBJECTS_PER_PERSON} (the report covers the first ones). */
  truncated: boolean;
}

/** An access report for a person, found by e-mail address: the subjects, and every transfer that carried them. */
export interface PersonAccessReport extends Omit<SubjectAccessReport, 'subject'> {
  person: PersonSubjects;
}

/** E-mail addresses are compared case-insensitively, trimmed. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The subjects an e-mail address names in the organization (contacts, imported contacts, event participants, the user). */
export async function subjectsOfEmail(db: Db, params: { organizationId: string; email: string }): Promise<PersonSubjects> {
  const email = normalizeEmail(params.email);
  const limit = MAX_SUBJECTS_PER_PERSON + 1;
  const contacts = await db
    .selectFrom('contacts')
    .select(['id', 'name'])
    .where('organization_id', '=', params.organizationId)
    .where(sql<boolean>`exists (select 1 from jsonb_array_elements_text(emails) e where lower(e) = ${email})`)
    .orderBy('id')
    .limit(limit)
    .execute();
  const imported = await db
    .selectFrom('imported_contacts')
    .select(['id', 'display_name as name'])
    .where('organization_id', '=', params.organizationId)
    .where(sql<boolean>`exists (select 1 from jsonb_array_elements_text(emails) e where lower(e) = ${email})`)
    .orderBy('id')
    .limit(limit)
    .execute();
  const events = await db
    .selectFrom('case_events')
    .select(['id', 'title'])
    .where('organization_id', '=', params.organizationId)
    .where(sql<boolean>`exists (select 1 from jsonb_array_elements(participants) p where lower(p->>'email') = ${email})`)
    .orderBy('id')
    .limit(limit)
    .execute();
  const user = await db
    .selectFrom('users')
    .select(['id', 'name'])
    .where('organization_id', '=', params.organizationId)
    .where(sql<boolean>`lower(email) = ${email}`)
    .executeTakeFirst();
  const truncated = contacts.length + imported.length + events.length > MAX_SUBJECTS_PER_PERSON;
  let room = MAX_SUBJECTS_PER_PERSON;
  const take = <T>(rows: T[]): T[] => {
    const kept = rows.slice(0, Math.max(0, room));
    room -= kept.length;
    return kept;
  };
  return { email, contacts: take(contacts), importedContacts: take(imported), events: take(events), user: user ?? null, truncated };
}

/**
 * The access report (GDPR Art. 15) for the person with an e-mail address: every transfer that
 * carried one of their subjects (as contact, imported contact or event participant), each once,
 * oldest first, with the recipients and sources named individually — the same
 * `subjectAccessReport` as the API's `GET /v1/admin/subject-access`, merged over the subjects.
 */
export async function accessReportByEmail(db: Db, params: { organizationId: string; email: string }): Promise<PersonAccessReport> {
  const person = await subjectsOfEmail(db, params);
  const subjects: Array<{ kind: SubjectParam; id: string }> = [
    ...person.contacts.map((c) => ({ kind: 'contactId' as const, id: c.id })),
    ...person.importedContacts.map((c) => ({ kind: 'contactId' as const, id: c.id })),
    ...person.events.map((e) => ({ kind: 'eventId' as const, id: e.id })),
  ];
  const transfers = new Map<string, SubjectAccessTransfer>();
  let refusedCount = 0;
  let notSentCount = 0;
  for (const subject of subjects) {
    const report = await subjectAccessReport(db, { organizationId: params.organizationId, subject });
    for (const t of report.transfers) transfers.set(t.transferId, t);
    refusedCount += report.refusedCount;
    notSentCount += report.notSentCount;
  }
  const all = [...transfers.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return {
    organizationId: params.organizationId,
    person,
    generatedAt: new Date().toISOString(),
    recipients: tallyCounterparties(all, 'outbound'),
    sources: tallyCounterparties(all, 'inbound'),
    transfers: all,
    refusedCount,
    notSentCount,
  };
}

/** What was sent on a user's behalf, by recipient (their own connections' delivered transfers). */
export async function sharedByUser(
  db: Db,
  params: { organizationId: string; userId: string },
): Promise<Array<{ platform: string | null; account: string | null; transfers: number; first: Date; last: Date }>> {
  const rows = await db
    .selectFrom('transfer_log')
    .select((eb) => [
      'platform',
      'recipient_account as account',
      eb.fn.countAll<string>().as('transfers'),
      eb.fn.min('created_at').as('first'),
      eb.fn.max('created_at').as('last'),
    ])
    .where('organization_id', '=', params.organizationId)
    .where('user_id', '=', params.userId)
    .where('direction', '=', 'outbound')
    .where('outcome', '=', 'sent')
    .groupBy(['platform', 'recipient_account'])
    .orderBy('platform')
    .execute();
  return rows.map((r) => ({ platform: r.platform, account: r.account, transfers: Number(r.transfers), first: new Date(r.first), last: new Date(r.last) }));
}
