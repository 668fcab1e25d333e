import { z } from 'zod';
import type { Participant } from '../db/types.ts';
import { EVENT_KINDS, participantSchema } from './schemas.ts';

/**
 * What the ingest API answers: each record with its internal id, the app's external id, version,
 * last change and tombstone flag. Response schemas (for OpenAPI) and the pure row → resource mapping.
 */

const common = {
  id: z.uuid().meta({ description: 'Casebridge id (used in consent case scopes)' }),
  externalId: z.string(),
  version: z.number().int().meta({ description: 'Starts at 1; +1 on every change or delete. Send it back in If-Match.' }),
  updatedAt: z.string().meta({ description: 'ISO 8601 instant of the last change' }),
  deleted: z.boolean().meta({ description: 'true for a tombstone (deleted, kept so sync can propagate it)' }),
};

export const caseResourceSchema = z
  .object({
    ...common,
    number: z.string(),
    title: z.string(),
    clientName: z.string().nullable(),
    status: z.string(),
    practiceArea: z.string().nullable(),
    assignees: z.array(z.string()),
  })
  .meta({ id: 'Case' });

export const eventResourceSchema = z
  .object({
    ...common,
    caseId: z.uuid(),
    caseExternalId: z.string(),
    kind: z.enum(EVENT_KINDS),
    title: z.string(),
    description: z.string().nullable(),
    location: z.string().nullable(),
    allDay: z.boolean(),
    start: z.string().nullable(),
    end: z.string().nullable(),
    timeZone: z.string().nullable(),
    startDate: z.string().nullable(),
    endDate: z.string().nullable(),
    participants: z.array(participantSchema),
  })
  .meta({ id: 'Event' });

export const documentResourceSchema = z
  .object({
    ...common,
    caseId: z.uuid(),
    caseExternalId: z.string(),
    title: z.string(),
    fileName: z.string(),
    mimeType: z.string(),
    sizeBytes: z.number().int(),
    sha256: z.string(),
    author: z.string().nullable(),
    documentDate: z.string().nullable(),
  })
  .meta({ id: 'Document' });

export const contactResourceSchema = z
  .object({
    ...common,
    caseId: z.uuid().nullable(),
    caseExternalId: z.string().nullable(),
    name: z.string(),
    emails: z.array(z.string()),
    phones: z.array(z.string()),
    organizationName: z.string().nullable(),
    role: z.string().nullable(),
  })
  .meta({ id: 'Contact' });

export type CaseResource = z.infer<typeof caseResourceSchema>;
export type EventResource = z.infer<typeof eventResourceSchema>;
export type DocumentResource = z.infer<typeof documentResourceSchema>;
export type ContactResource = z.infer<typeof contactResourceSchema>;

/** Columns every case data row has. */
interface CommonRow {
  id: string;
  external_id: string;
  version: number;
  updated_at: Date;
  deleted_at: Date | null;
}

function commonFields(r: CommonRow) {
  return {
    id: r.id,
    externalId: r.external_id,
    version: r.version,
    updatedAt: r.updated_at.toISOString(),
    deleted: r.deleted_at !== null,
  };
}

export interface CaseRowRead extends CommonRow {
  number: string;
  title: string;
  client_name: string | null;
  status: string;
  practice_area: string | null;
  assignees: string[];
}

export function toCaseResource(r: CaseRowRead): CaseResource {
  return {
    ...commonFields(r),
    number: r.number,
    title: r.title,
    clientName: r.client_name,
    status: r.status,
    practiceArea: r.practice_area,
    assignees: r.assignees,
  };
}

export interface EventRowRead extends CommonRow {
  case_id: string;
  case_external_id: string;
  kind: EventResource['kind'];
  title: string;
  description: string | null;
  location: string | null;
  starts_at: Date | null;
  ends_at: Date | null;
  time_zone: string | null;
  start_date: string | null;
  end_date: string | null;
  participants: Participant[];
}

export function toEventResource(r: EventRowRead): EventResource {
  return {
    ...commonFields(r),
    caseId: r.case_id,
    caseExternalId: r.case_external_id,
    kind: r.kind,
    title: r.title,
    description: r.description,
    location: r.location,
    allDay: r.start_date !== null,
    start: r.starts_at?.toISOString() ?? null,
    end: r.ends_at?.toISOString() ?? null,
    timeZone: r.time_zone,
    startDate: r.start_date,
    endDate: r.end_date,
    participants: r.participants,
  };
}

export interface DocumentRowRead extends CommonRow {
  case_id: string;
  case_external_id: string;
  title: string;
  file_name: string;
  mime_type: string;
  size_bytes: number;
  sha256: string;
  author: string | null;
  document_date: string | null;
}

export function toDocumentResource(r: DocumentRowRead): DocumentResource {
  return {
    ...commonFields(r),
    caseId: r.case_id,
    caseExternalId: r.case_external_id,
    title: r.title,
    fileName: r.file_name,
    mimeType: r.mime_type,
    sizeBytes: Number(r.size_bytes),
    sha256: r.sha256,
    author: r.author,
    documentDate: r.document_date,
  };
}

export interface ContactRowRead extends CommonRow {
  case_id: string | null;
  case_external_id: string | null;
  name: string;
  emails: string[];
  phones: string[];
  organization_name: string | null;
  role: string | null;
}

export function toContactResource(r: ContactRowRead): ContactResource {
  return {
    ...commonFields(r),
    caseId: r.case_id,
    caseExternalId: r.case_external_id,
    name: r.name,
    emails: r.emails,
    phones: r.phones,
    organizationName: r.organization_name,
    role: r.role,
  };
}
