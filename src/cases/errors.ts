import { CasebridgeError } from '../errors/index.ts';

/**
 * Why an ingest was refused. Thrown before or inside the transaction, so nothing was written; the
 * routes turn it into an API error with the same code: `unknown_case` (a child names a case that
 * never existed), `case_deleted` (a child names a case that is a tombstone: it must be sent again
 * before anything can be added to it), `version_conflict` (If-Match), `duplicate_item`.
 */
export class IngestError extends CasebridgeError {
  constructor(
    override readonly code: 'unknown_case' | 'case_deleted' | 'version_conflict' | 'duplicate_item',
    message: string,
    /** One entry per offending item: its index in the request, and what is wrong. */
    readonly items: IngestProblem[],
  ) {
    super(code, message);
  }
}

export interface IngestProblem {
  index: number;
  externalId: string;
  /** The offending field of the item's data, when one field is to blame. */
  field?: string;
  message: string;
  /** For version conflicts: the version the record has now (null when it does not exist). */
  currentVersion?: number | null;
}
