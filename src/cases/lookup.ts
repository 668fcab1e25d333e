import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import {
  type CaseResource,
  type ContactResource,
  type DocumentResource,
  type EventResource,
  toCaseResource,
  toContactResource,
  toDocumentResource,
  toEventResource,
} from './resources.ts';
import type { EntityType } from './schemas.ts';

/** The resource type of each entity type. */
export interface ResourceByType {
  case: CaseResource;
  event: EventResource;
  document: DocumentResource;
  contact: ContactResource;
}

/**
 * One record by the app's external id, tombstones included (so the app can see that a delete
 * landed); null when the organization has no such record.
 */
export async function findByExternalId<T extends EntityType>(
  db: Db,
  params: { organizationId: string; type: T; externalId: string },
): Promise<ResourceByType[T] | null> {
  const { organizationId, externalId } = params;
  const type: EntityType = params.type;
  let found: ResourceByType[EntityType] | null = null;
  if (type === 'case') {
    const r = await db.selectFrom('cases').selectAll().where('organization_id', '=', organizationId).where('external_id', '=', externalId).executeTakeFirst();
    found = r ? toCaseResource(r) : null;
  } else if (type === 'event') {
    const r = await db
      .selectFrom('case_events as e')
      .innerJoin('cases as c', 'c.id', 'e.case_id')
      .selectAll('e')
      .select('c.external_id as case_external_id')
      .where('e.organization_id', '=', organizationId)
      .where('e.external_id', '=', externalId)
      .executeTakeFirst();
    found = r ? toEventResource(r) : null;
  } else if (type === 'document') {
    const r = await db
      .selectFrom('documents as d')
      .innerJoin('cases as c', 'c.id', 'd.case_id')
      .selectAll('d')
      .select('c.external_id as case_external_id')
      .where('d.organization_id', '=', organizationId)
      .where('d.external_id', '=', externalId)
      .executeTakeFirst();
    found = r ? toDocumentResource(r) : null;
  } else {
    const r = await db
      .selectFrom('contacts as k')
      .leftJoin('cases as c', 'c.id', 'k.case_id')
      .selectAll('k')
      .select('c.external_id as case_external_id')
      .where('k.organization_id', '=', organizationId)
      .where('k.external_id', '=', externalId)
      .executeTakeFirst();
    found = r ? toContactResource(r) : null;
  }
  return found as ResourceByType[T] | null;
}

/** A case as a signed-in user sees it when choosing what to share. */
export interface CaseSummary {
  id: string;
  number: string;
  title: string;
  clientName: string | null;
  status: string;
  eventCount: number;
  updatedAt: string;
}

export interface CaseDetail extends CaseSummary {
  assignees: string[];
  documentCount: number;
  contactCount: number;
}

/** The user's e-mail (lower case) in the organization, or null for an unknown or other-org user. */
async function userEmail(db: Db, params: { organizationId: string; userId: string }): Promise<string | null> {
  const row = await db
    .selectFrom('users')
    .select('email')
    .where('id', '=', params.userId)
    .where('organization_id', '=', params.organizationId)
    .executeTakeFirst();
  return row ? row.email.toLowerCase() : null;
}

const liveCount = (table: 'case_events' | 'documents' | 'contacts') =>
  sql<number>`(SELECT count(*) FROM ${sql.table(table)} x WHERE x.case_id = c.id AND x.deleted_at IS NULL)`;

/** The live cases assigned to the user (matched by e-mail), by case number, with their live event count. */
export async function listAssignedCases(
  db: Db,
  params: { organizationId: string; userId: string; limit?: number; after?: { number: string; id: string } | null },
): Promise<CaseSummary[]> {
  const email = await userEmail(db, params);
  if (!email) return [];
  let q = db
    .selectFrom('cases as c')
    .select(['c.id', 'c.number', 'c.title', 'c.client_name', 'c.status', 'c.updated_at', liveCount('case_events').as('event_count')])
    .where('c.organization_id', '=', params.organizationId)
    .where('c.deleted_at', 'is', null)
    .where(sql<boolean>`c.assignees @> ${JSON.stringify([email])}::jsonb`);
  // Keyset paging by (number, id), the list's order.
  const after = params.after;
  if (after) q = q.where((eb) => eb.or([eb('c.number', '>', after.number), eb.and([eb('c.number', '=', after.number), eb('c.id', '>', after.id)])]));
  q = q.orderBy('c.number').orderBy('c.id');
  if (params.limit !== undefined) q = q.limit(params.limit);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    number: r.number,
    title: r.title,
    clientName: r.client_name,
    status: r.status,
    eventCount: Number(r.event_count),
    updatedAt: r.updated_at.toISOString(),
  }));
}

/**
 * The practice areas of the live cases a consent could cover (the user's assigned cases, or the whole
 * organization's with `userId` null), each once (compared trimmed and case-insensitively), sorted.
 */
export async function listPracticeAreas(db: Db, params: { organizationId: string; userId: string | null }): Promise<string[]> {
  let q = db
    .selectFrom('cases as c')
    .select(sql<string>`min(trim(c.practice_area))`.as('area'))
    .where('c.organization_id', '=', params.organizationId)
    .where('c.deleted_at', 'is', null)
    .where('c.practice_area', 'is not', null)
    .where(sql<boolean>`trim(c.practice_area) <> ''`);
  if (params.userId) {
    const email = await userEmail(db, { organizationId: params.organizationId, userId: params.userId });
    if (!email) return [];
    q = q.where(sql<boolean>`c.assignees @> ${JSON.stringify([email])}::jsonb`);
  }
  const rows = await q.groupBy(sql`lower(trim(c.practice_area))`).orderBy(sql`lower(trim(c.practice_area))`).limit(200).execute();
  return rows.map((r) => r.area);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One live case of the user's organization that the user may see: assigned to them, or any case for
 * an administrator. Null otherwise (the route answers 404 alike for "other organization", "not yours"
 * and "no such id", so ids cannot be probed).
 */
export async function findCaseForUser(
  db: Db,
  params: { organizationId: string; userId: string; role: 'member' | 'admin'; caseId: string },
): Promise<CaseDetail | null> {
  if (!UUID.test(params.caseId)) return null;
  const email = await userEmail(db, params);
  if (!email) return null;
  const r = await db
    .selectFrom('cases as c')
    .select([
      'c.id',
      'c.number',
      'c.title',
      'c.client_name',
      'c.status',
      'c.assignees',
      'c.updated_at',
      liveCount('case_events').as('event_count'),
      liveCount('documents').as('document_count'),
      liveCount('contacts').as('contact_count'),
    ])
    .where('c.id', '=', params.caseId)
    .where('c.organization_id', '=', params.organizationId)
    .where('c.deleted_at', 'is', null)
    .executeTakeFirst();
  if (!r) return null;
  if (params.role !== 'admin' && !r.assignees.includes(email)) return null;
  return {
    id: r.id,
    number: r.number,
    title: r.title,
    clientName: r.client_name,
    status: r.status,
    assignees: r.assignees,
    eventCount: Number(r.event_count),
    documentCount: Number(r.document_count),
    contactCount: Number(r.contact_count),
    updatedAt: r.updated_at.toISOString(),
  };
}
