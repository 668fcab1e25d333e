import { createHash } from 'node:crypto';
import type { DocumentWithCase } from '../../src/cases/queries.ts';
import type { CategoryId } from '../../src/consent/categories.ts';
import type { DesiredItem } from '../types.ts';

/**
 * Case documents ∩ consent → the documents iManage should hold. Pure. Without `documents.files`
 * nothing is filed (iManage keeps no document without content), so a metadata-only consent sends
 * nothing at all. The hash is `<content sha256>:<metadata hash>`: apply reads from it whether the
 * content changed (a new version) or only the profile (a profile update, no upload).
 */

export const DOCUMENT_KEY_PREFIX = 'document:';

export type ImanageDocumentFields = {
  /** SHA-256 of the file in the blob store (the content itself is streamed from there). */
  content: string;
  fileName: string;
  caseNumber: string;
  title?: string;
  author?: string | null;
  documentDate?: string | null;
} & Record<string, unknown>;

const sha = (v: string) => createHash('sha256').update(v).digest('hex');

/** Splits a document item hash into its content and metadata halves. */
export function splitHash(hash: string): { content: string; meta: string } {
  const [content = '', meta = ''] = hash.split(':');
  return { content, meta };
}

export function projectDocuments(params: { documents: DocumentWithCase[]; categories: readonly CategoryId[] }): Array<DesiredItem<ImanageDocumentFields>> {
  if (!params.categories.includes('documents.files')) return [];
  const withMetadata = params.categories.includes('documents.metadata');
  return params.documents.map((d) => {
    const fields: ImanageDocumentFields = {
      content: d.sha256,
      fileName: d.fileName,
      caseNumber: d.caseNumber,
      ...(withMetadata ? { title: d.title, author: d.author, documentDate: d.documentDate } : {}),
    };
    const meta = { mimeType: d.mimeType, size: d.sizeBytes };
    const { content, ...profile } = fields;
    return {
      key: `${DOCUMENT_KEY_PREFIX}${d.id}`,
      hash: `${content}:${sha(JSON.stringify([profile, meta]))}`,
      fields,
      caseId: d.caseId,
      subjects: { caseIds: [d.caseId], documentIds: [d.id] },
      meta,
    };
  });
}

/** Client and matter numbers from a case number, by the connection's pattern; null when it does not match. */
export function clientMatterOf(caseNumber: string, pattern: string): { client: string; matter: string } | null {
  let m: RegExpExecArray | null;
  try {
    m = new RegExp(pattern).exec(caseNumber);
  } catch {
    return null;
  }
  const client = m?.groups?.client?.trim();
  const matter = m?.groups?.matter?.trim();
  return client && matter ? { client, matter } : null;
}

/** The file extension iManage wants (no dot, upper case), from the file name. */
export function extensionOf(fileName: string): string {
  const m = /\.([A-Za-z0-9]{1,10})$/.exec(fileName);
  return m ? m[1]!.toUpperCase() : '';
}

/** The profile of an upload or update, from the minimised fields only. */
export function profileOf(
  fields: Record<string, unknown>,
  params: { keyField: string; itemKey: string; client: string; matter: string },
): Record<string, unknown> {
  const fileName = typeof fields.fileName === 'string' ? fields.fileName : 'document';
  const title = typeof fields.title === 'string' && fields.title ? fields.title : fileName.replace(/\.[^.]+$/, '');
  return {
    name: title.slice(0, 254),
    extension: extensionOf(fileName),
    ...(typeof fields.author === 'string' && fields.author ? { comment: `Author: ${fields.author}`.slice(0, 254) } : {}),
    ...(typeof fields.documentDate === 'string' && fields.documentDate ? { file_create_date: fields.documentDate } : {}),
    custom1: params.client,
    custom2: params.matter,
    [params.keyField]: params.itemKey,
  };
}
