import mimeTypes from 'mime-types';
import type { CaseData, ContactData, DocumentMetadata, EntityType, EventData } from './schemas.ts';

/**
 * How validated ingest data maps onto table columns. One spec per entity type: the table, the
 * content columns (a change in any of them is a new version; nothing else is compared) and the
 * column naming the case a row belongs to. Pure.
 */
export interface TableSpec {
  table: 'cases' | 'case_events' | 'documents' | 'contacts';
  contentColumns: readonly string[];
  /** The content columns of type jsonb: their {@link ContentRow} values are JSON text. */
  jsonColumns: readonly string[];
  /** `id` for cases themselves, `case_id` for their events, documents and contacts. */
  caseColumn: 'id' | 'case_id';
}

export const TABLE_SPECS: Record<EntityType, TableSpec> = {
  case: {
    table: 'cases',
    contentColumns: ['number', 'title', 'client_name', 'status', 'assignees', 'practice_area'],
    jsonColumns: ['assignees'],
    caseColumn: 'id',
  },
  event: {
    table: 'case_events',
    contentColumns: ['case_id', 'kind', 'title', 'description', 'location', 'starts_at', 'ends_at', 'time_zone', 'start_date', 'end_date', 'participants'],
    jsonColumns: ['participants'],
    caseColumn: 'case_id',
  },
  document: {
    table: 'documents',
    contentColumns: ['case_id', 'title', 'file_name', 'mime_type', 'size_bytes', 'sha256', 'author', 'document_date'],
    jsonColumns: [],
    caseColumn: 'case_id',
  },
  contact: {
    table: 'contacts',
    contentColumns: ['case_id', 'name', 'emails', 'phones', 'organization_name', 'role'],
    jsonColumns: ['emails', 'phones'],
    caseColumn: 'case_id',
  },
};

/** Column values in `contentColumns` order; JSON columns as JSON text, instants as ISO strings. */
export type ContentRow = Record<string, string | number | null>;

export function caseRow(d: CaseData): ContentRow {
  return {
    number: d.number,
    title: d.title,
    client_name: d.clientName,
    status: d.status,
    assignees: JSON.stringify(d.assignees),
    practice_area: d.practiceArea,
  };
}

export function eventRow(d: EventData, caseId: string): ContentRow {
  const t = d.timing;
  return {
    case_id: caseId,
    kind: d.kind,
    title: d.title,
    description: d.description,
    location: d.location,
    starts_at: t.allDay ? null : t.start.toISOString(),
    ends_at: t.allDay ? null : t.end.toISOString(),
    time_zone: t.timeZone,
    start_date: t.allDay ? t.startDate : null,
    end_date: t.allDay ? t.endDate : null,
    participants: JSON.stringify(d.participants),
  };
}

/** The stored bytes of a document, as the blob store reported them. */
export interface StoredContent {
  sha256: string;
  size: number;
  mimeType: string;
}

export function documentRow(d: DocumentMetadata, content: StoredContent, caseId: string): ContentRow {
  return {
    case_id: caseId,
    title: d.title,
    file_name: d.fileName,
    mime_type: d.mimeType ?? content.mimeType,
    size_bytes: content.size,
    sha256: content.sha256,
    author: d.author,
    document_date: d.documentDate,
  };
}

export function contactRow(d: ContactData, caseId: string | null): ContentRow {
  return {
    case_id: caseId,
    name: d.name,
    emails: JSON.stringify(d.emails),
    phones: JSON.stringify(d.phones),
    organization_name: d.organizationName,
    role: d.role,
  };
}

/**
 * A MIME type guessed from the file name's extension when neither the metadata nor the upload names
 * one (mime-db's table through `mime-types`), `application/octet-stream` when the extension is unknown.
 */
export function guessMimeType(fileName: string): string {
  return mimeTypes.lookup(fileName) || 'application/octet-stream';
}
