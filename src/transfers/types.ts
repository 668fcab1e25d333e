import type { CategoryId } from '../consent/categories.ts';

/**
 * The contract of the outbound gate: the one door every transfer to (or import from) a third party
 * passes through. Connectors describe *what* they want to send as field-keyed payloads; the gate
 * decides whether it may leave, minimises it, logs it write-ahead, and only then hands the
 * minimised fields to the connector's `perform` callback, which builds the provider request from
 * them and nothing else.
 */

export type TransferDirection = 'outbound' | 'inbound';

export type TransferOperation = 'create' | 'update' | 'delete' | 'read' | 'publish' | 'provision';

/** Who caused the transfer. */
export type TransferActor =
  | { kind: 'job'; jobId: string; queue: string }
  | { kind: 'user'; userId: string }
  | { kind: 'feed_fetch'; ip: string | null; userAgent: string | null }
  | { kind: 'system'; reason: string };

/** The specific recipient: GDPR Art. 15(1)(c) wants recipients named individually. */
export interface TransferRecipient {
  /** External account, e.g. the Google account e-mail. */
  account: string | null;
  /** Destination inside it: calendar id, feed id, iManage library/folder. */
  destination: string | null;
  /**
   * The recipient is a person addressed at `account` (an e-mail address) who can opt out, as an
   * invitation's addressee: the gate refuses the item (`recipient_suppressed`) when the address is on
   * the organization's suppression list (`invitation_suppressions`).
   */
  suppressible?: boolean;
}

/** The data subjects a transfer carries data about. */
export interface TransferSubjects {
  caseIds?: string[];
  eventIds?: string[];
  documentIds?: string[];
  contactIds?: string[];
  personIds?: string[];
}

/** One transfer the connector wants to make. */
export interface TransferItem {
  direction?: TransferDirection; // default 'outbound'
  operation: TransferOperation;
  /**
   * Categories this item belongs to. The first is required: without consent for it the item is
   * blocked. The others are optional: their fields are stripped when not consented.
   */
  categories: [CategoryId, ...CategoryId[]] | [];
  subjects: TransferSubjects;
  recipient: TransferRecipient;
  /**
   * Payload keyed by the registry's field names (see consent/categories.ts). Fields of categories
   * not consented are removed before `perform` sees them. Fields in no category of the item are a
   * programming error and block the item (reason `field_not_in_registry`).
   * Deletes and provisioning carry only identifiers (`fields: {}`).
   */
  fields: Record<string, unknown>;
  /** Stable key of the item for the log (e.g. `event:<caseEventId>`). */
  itemKey?: string;
}

/** Why the gate refused a transfer (recorded as a `blocked` row). */
export type BlockReason =
  | 'connection_not_active'
  | 'connection_revoked'
  | 'consent_missing'
  | 'consent_withdrawn'
  | 'category_not_consented'
  | 'case_out_of_scope'
  | 'field_not_in_registry'
  | 'platform_disabled'
  | 'recipient_suppressed';

/** What the connector's `perform` reports back about the provider call. */
export interface ProviderOutcome<T> {
  value: T;
  /** Provider's HTTP status. */
  status?: number;
  remoteId?: string | null;
  /** Actual bytes sent, when the connector knows them better than the gate's canonical payload. */
  bytes?: number;
  /**
   * The provider answered "not modified" (e.g. an iCal feed fetch answered 304): nothing was sent,
   * the log row's outcome is `not_modified`.
   */
  notModified?: boolean;
  /** Inbound transfers: the data subjects actually received (e.g. ids of the imported contacts). */
  subjects?: TransferSubjects;
  /**
   * What the provider's answer said about the write beyond its status, kept as the outcome row's
   * `reason` — e.g. `insert_met_existing`: a create whose insert found the item already there (409)
   * and updated it, which a later write check needs to tell who created it.
   */
  note?: string;
}

export type TransferResult<T> =
  | { outcome: 'sent'; value: T; transferId: string }
  | {
      outcome: 'failed';
      error: unknown;
      transferId: string;
      /**
       * What the log says about it: `failed` (the provider answered with an error), `unknown` (the
       * request may have been applied; it is resolved later by reading the provider) or `not_sent`
       * (it never left — the caller aborted the chunk, `beforeSend` skipped it, or its intent could not
       * be written; such an item has no row unless an intent was already written).
       */
      logged: 'failed' | 'unknown' | 'not_sent';
    }
  | { outcome: 'blocked'; reason: BlockReason; transferId: string };

/** Options of one `sendMany` chunk. */
export interface SendManyOptions {
  /** Calls under way at once (default: the gate's `concurrency`). */
  concurrency?: number;
  /**
   * Aborting stops the chunk: items not yet started are not sent and leave no row (their result is
   * `failed` with `logged: 'not_sent'` and the abort reason); calls already under way finish and are
   * logged. E.g. a 429 pausing the account while the calls already allowed complete.
   */
  signal?: AbortSignal;
  /**
   * Asked right before an item's intent is written: a reason (snake_case) skips the item — no call,
   * no row, result `not_sent` with that reason. E.g. a rate limiter that refuses the slot.
   */
  beforeSend?: (item: TransferItem, index: number) => string | null | undefined;
}

/** Context shared by every item of one gate call. */
export interface TransferContext {
  connectionId: string;
  /** Why the data moves, e.g. `calendar_sync`, `ical_feed`, `revocation_purge`. */
  purpose: string;
  actor: TransferActor;
}

/**
 * A condition of a row (migration 0030): it goes in only while the iCal feed whose token has the hash
 * `tokenHash` is live and still `feed` — [feed id, connection id, data version, consent id, consent
 * version, owner e-mail, feed name], what a 304's ETag was chosen on — checked by the statement that
 * inserts it.
 */
export interface FeedCheck {
  tokenHash: string;
  feed: readonly [string, string, number, string, number, string, string];
}

/**
 * The gate. `send` is for one item; `sendMany` batches a reconcile chunk: one consent check, then per
 * item that is about to leave its intent row (committed before the call; intents ready at the same
 * time share one multi-row statement), the call (bounded concurrency), and its outcome (batched). A
 * `failed` result carries the thrown error so the caller can classify it; the gate never retries
 * (the queue does).
 */
export interface OutboundGate {
  send<T>(ctx: TransferContext, item: TransferItem, perform: (minimised: Record<string, unknown>) => Promise<ProviderOutcome<T>>): Promise<TransferResult<T>>;
  sendMany<T>(
    ctx: TransferContext,
    items: TransferItem[],
    perform: (minimised: Record<string, unknown>, item: TransferItem, index: number) => Promise<ProviderOutcome<T>>,
    options?: SendManyOptions,
  ): Promise<Array<TransferResult<T>>>;
  /**
   * A request answered without disclosing anything (an iCal fetch answered 304 from a known ETag):
   * the same connection, consent and scope checks as a transfer, then ONE row — `not_modified`, no
   * fields, 0 bytes — instead of an intent and an outcome, since there is no call to write ahead of.
   * `blocked` (with its row, committed) when the checks refuse; `sent` (value null) otherwise — as
   * soon as the `not_modified` row is queued for the log writer's next group commit (it commits a few
   * milliseconds later; the call's revocation lease is held until then). {@link settled} waits for it.
   *
   * `details.proceed`: the caller's own check (e.g. the iCal feed's liveness lookup), run while the
   * gate registers the call's lease and reads the epoch instead of before it. The gate's checks and the
   * row wait for it; when it resolves false nothing is written and the result is `failed` with
   * `logged: 'not_sent'` (reason `caller_declined`).
   *
   * `details.check`: the iCal feed the answer was decided on (see {@link FeedCheck}), checked by
   * the statement that inserts the row; when it no longer holds nothing is written and the result is
   * `failed` with `logged: 'not_sent'` (reason `feed_changed`).
   */
  record(
    ctx: TransferContext,
    item: TransferItem,
    details: { providerStatus: number; proceed?: Promise<boolean>; check?: FeedCheck },
  ): Promise<TransferResult<null>>;
  /**
   * Counts one hit of a fixed-window counter in Redis (`key`, a window of `windowMs` from its first
   * hit) in the gate's next batch of lease registrations — one script call for both — so a caller that
   * rate-limits a request right before its gate call (an iCal poll) pays no round trip of its own.
   */
  countHit(key: string, windowMs: number): Promise<{ count: number; msLeft: number }>;
  /** Resolves once every row queued and every lease release made so far has landed (tests; shutdown). */
  settled(): Promise<void>;
}

/** Raised by callers that prefer exceptions (e.g. a route) when the gate blocked a transfer. */
export class TransferBlockedError extends Error {
  readonly code = 'transfer_blocked';
  constructor(
    readonly reason: BlockReason,
    readonly transferId: string,
  ) {
    super(`transfer blocked: ${reason}`);
    this.name = 'TransferBlockedError';
  }
}
