import { type RawBuilder, sql } from 'kysely';
import { isEmptyCaseScope } from '../consent/case-scope.ts';
import type { Db } from '../db/database.ts';
import type { CaseEventKind, CaseScope, Participant } from '../db/types.ts';

/** The consent's case scope as a condition on `cases as c` (practice areas case-insensitively); null for all cases. */
function scopeCondition(scope: CaseScope): RawBuilder<boolean> | null {
  if (scope.kind === 'cases') return sql<boolean>`c.id = any(${scope.caseIds}::uuid[])`;
  if (scope.kind === 'practice_areas') return sql<boolean>`lower(c.practice_area) = any(${scope.practiceAreas.map((a) => a.trim().toLowerCase())}::text[])`;
  return null;
}

/** A case event joined with its case, as projections need it. */
export interface EventWithCase {
  id: string;
  externalId: string;
  caseId: string;
  caseNumber: string;
  caseTitle: string;
  kind: CaseEventKind;
  title: string;
  description: string | null;
  location: string | null;
  startsAt: Date | null;
  endsAt: Date | null;
  timeZone: string | null;
  startDate: string | null;
  endDate: string | null;
  participants: Participant[];
  version: number;
  updatedAt: Date;
}

/**
 * The live (not deleted) events of the cases a user is assigned to (matched by e-mail), limited to
 * the consent's case scope. This is the "case data" side of `case data ∩ consent`.
 */
export async function loadEventsInScope(db: Db, params: { organizationId: string; userEmail: string; caseScope: CaseScope }): Promise<EventWithCase[]> {
  if (isEmptyCaseScope(params.caseScope)) return [];
  let q = db
    .selectFrom('case_events as e')
    .innerJoin('cases as c', 'c.id', 'e.case_id')
    .where('e.organization_id', '=', params.organizationId)
    .where('c.organization_id', '=', params.organizationId)
    .where('e.deleted_at', 'is', null)
    .where('c.deleted_at', 'is', null)
    .where(sql<boolean>`c.assignees @> ${JSON.stringify([params.userEmail.toLowerCase()])}::jsonb`);
  const inScope = scopeCondition(params.caseScope);
  if (inScope) q = q.where(inScope);
  const rows = await q
    .select([
      'e.id',
      'e.external_id',
      'e.case_id',
      'c.number as case_number',
      'c.title as case_title',
      'e.kind',
      'e.title',
      'e.description',
      'e.location',
      'e.starts_at',
      'e.ends_at',
      'e.time_zone',
      'e.start_date',
      'e.end_date',
      'e.participants',
      'e.version',
      'e.updated_at',
    ])
    .orderBy('e.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    externalId: r.external_id,
    caseId: r.case_id,
    caseNumber: r.case_number,
    caseTitle: r.case_title,
    kind: r.kind,
    title: r.title,
    description: r.description,
    location: r.location,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    timeZone: r.time_zone,
    startDate: r.start_date,
    endDate: r.end_date,
    participants: r.participants,
    version: r.version,
    updatedAt: r.updated_at,
  }));
}

/** A case document's metadata joined with its case, as projections need it (the bytes stay in the blob store). */
export interface DocumentWithCase {
  id: string;
  externalId: string;
  caseId: string;
  caseNumber: string;
  caseTitle: string;
  title: string;
  fileName: string;
  mimeType: string;
  sizeBytes: number;
  sha256: string;
  author: string | null;
  documentDate: string | null;
  version: number;
  updatedAt: Date;
}

/**
 * The live documents of the cases a user is assigned to (matched by e-mail), limited to the
 * consent's case scope — the documents' side of `case data ∩ consent`, as {@link loadEventsInScope}
 * is the events'.
 */
export async function loadDocumentsInScope(
  db: Db,
  /** `userEmail` null: every case of the organization (an organization-level connection). */
  params: { organizationId: string; userEmail: string | null; caseScope: CaseScope },
): Promise<DocumentWithCase[]> {
  if (isEmptyCaseScope(params.caseScope)) return [];
  let q = db
    .selectFrom('documents as d')
    .innerJoin('cases as c', 'c.id', 'd.case_id')
    .where('d.organization_id', '=', params.organizationId)
    .where('c.organization_id', '=', params.organizationId)
    .where('d.deleted_at', 'is', null)
    .where('c.deleted_at', 'is', null);
  if (params.userEmail !== null) q = q.where(sql<boolean>`c.assignees @> ${JSON.stringify([params.userEmail.toLowerCase()])}::jsonb`);
  const inScope = scopeCondition(params.caseScope);
  if (inScope) q = q.where(inScope);
  const rows = await q
    .select([
      'd.id',
      'd.external_id',
      'd.case_id',
      'c.number as case_number',
      'c.title as case_title',
      'd.title',
      'd.file_name',
      'd.mime_type',
      'd.size_bytes',
      'd.sha256',
      'd.author',
      'd.document_date',
      'd.version',
      'd.updated_at',
    ])
    .orderBy('d.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    externalId: r.external_id,
    caseId: r.case_id,
    caseNumber: r.case_number,
    caseTitle: r.case_title,
    title: r.title,
    fileName: r.file_name,
    mimeType: r.mime_type,
    sizeBytes: Number(r.size_bytes),
    sha256: r.sha256,
    author: r.author,
    documentDate: r.document_date,
    version: r.version,
    updatedAt: r.updated_at,
  }));
}
