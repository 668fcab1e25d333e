import type { RawBuilder } from 'kysely';
import type { z } from 'zod';
import type { RouteModule } from '../src/api/env.ts';
import type { DocumentWithCase, EventWithCase } from '../src/cases/queries.ts';
import type { Config } from '../src/config/load.ts';
import type { ConnectorOAuth } from '../src/connections/oauth-types.ts';
import type { StoredTokens } from '../src/connections/token-vault.ts';
import type { CategoryId } from '../src/consent/categories.ts';
import type { Consent } from '../src/consent/service.ts';
import type { Db, Tx } from '../src/db/database.ts';
import type { ConnectionStatus } from '../src/db/types.ts';
import type { Logger } from '../src/observability/logger.ts';
import type { Services } from '../src/services.ts';
import type { ProviderHttpClient } from '../src/transfers/clients/http.ts';
import type { BlockReason, OutboundGate, TransferActor } from '../src/transfers/types.ts';
import type { WebApp } from '../src/web/env.ts';
import type { PageKit } from '../src/web/page-kit.ts';

/**
 * The shape every Additional Platform shares (`connectors/<platform>/`). A registry line plus a
 * folder with these pieces adds a platform:
 * - manifest.ts: what the platform is and may carry;
 * - project.ts: pure, case data ∩ consent -> desired remote items with a content hash;
 * - apply.ts: create/update/delete through the outbound gate;
 * - errors.ts: provider error -> transient | auth_failed | permanent | rate_limited;
 * - revoke.ts: provider-side token revoke and optional remote clean-up.
 */

/** Case data whose committed changes may change what a connector sends (see `DataChange.entities`). */
export type DataTrigger = 'cases' | 'events' | 'documents' | 'contacts';

/**
 * A provider quota as plain data: at most `limit` requests in any sliding window of `windowSeconds`,
 * and at most `concurrency` requests in flight at once (absent = no concurrency limit).
 */
export interface RateBudgetSpec {
  limit: number;
  windowSeconds: number;
  concurrency?: number;
}

/** What a connector can do: `push` = level-triggered reconcile of remote items; `pull` = import with a stored cursor. */
export type ConnectorCapability = 'push' | 'pull';

export interface ConnectorManifest {
  /** Platform id stored in connections.platform, e.g. `google_calendar`, `ical`. */
  id: string;
  displayName: string;
  authKind: 'oauth2' | 'feed_token';
  /** Categories this platform can carry (a subset of the registry). */
  categories: CategoryId[];
  /** Categories pre-selected on the consent screen: the minimum that makes the platform useful. */
  defaultCategories: CategoryId[];
  /** Which committed case-data changes enqueue a run of this platform's connections. */
  triggers: DataTrigger[];
  capabilities: ConnectorCapability[];
  /**
   * Provider quotas, shared by all workers: one budget per external account and one for the whole
   * project (our client registration). Absent = unlimited. Overridable by the variables the config
   * fragment names in `rateBudgetVariables`.
   */
  rateBudgets?: { perAccount?: RateBudgetSpec; perProject?: RateBudgetSpec };
  /** Whether the provider offers a token revocation endpoint. */
  providerRevoke: boolean;
  /**
   * `user` (default): a member connects their own account. `organization`: an administrator connects
   * the firm's server for the whole organization (its consent is the organization's, its cases all of
   * the organization's within the case scope).
   */
  level?: 'user' | 'organization';
}

/** A desired remote item: the level-triggered reconcile compares these against sync_state. */
export interface DesiredItem<F = Record<string, unknown>> {
  /** Stable key, e.g. `event:<caseEventId>`. */
  key: string;
  /** Hash of the (already consent-filtered) fields; a change means an update is due. */
  hash: string;
  fields: F;
  caseId: string;
  subjects: { caseIds: string[]; eventIds?: string[]; documentIds?: string[]; contactIds?: string[] };
  /** The remote id, when the provider accepts client-chosen ids (deterministic: a retried create cannot duplicate). */
  remoteId?: string;
  /** Non-personal rendering hints included in the hash (e.g. reminder minutes); never sent as fields. */
  meta?: Record<string, unknown>;
}

export type ProviderErrorClass = (
  | { kind: 'transient'; message: string }
  | { kind: 'auth_failed'; message: string; reauthRequired: boolean }
  | { kind: 'permanent'; message: string }
  | { kind: 'rate_limited'; message: string; retryAfterMs: number | null }
) & {
  /** Provider HTTP status, when there was one. */
  status?: number | null;
  /** Finer reason the engine acts on, e.g. `destination_missing` (the target calendar is gone). */
  code?: string;
};

/** The result of a connector's provider-side revocation step, for the revocation receipt. */
export interface RevokeStepResult {
  step: string;
  result: 'done' | 'not_supported' | 'failed' | 'skipped';
  detail?: string;
  providerStatus?: number;
  removedItems?: number;
}

/**
 * What of Casebridge a connector's push, revocation and write-check steps may use: the outbound gate,
 * the database (the tables it owns, case-data queries), the blob store (documents it files), the
 * configuration and the logger. Never the queues, Redis, sessions or the token vault: tokens come
 * through {@link ConnectionTokenAccess}.
 */
export type ConnectorServices = Pick<Services, 'db' | 'config' | 'gate' | 'blobs' | 'logger'>;

/** A connection's provider tokens, for one connection (built by `src/connections/token-access.ts`). */
export interface ConnectionTokenAccess {
  /** The stored tokens as they are (no refresh), or null when none are stored (never connected, or shredded). */
  stored(): Promise<StoredTokens | null>;
  /** A usable access token, refreshed ahead of expiry (single flight across processes). */
  accessToken(): Promise<string>;
}

export interface RevokeContext {
  services: ConnectorServices;
  /** Null for platforms without OAuth tokens (e.g. the iCal feed). */
  tokens: ConnectionTokenAccess | null;
  connection: {
    id: string;
    organizationId: string;
    userId: string;
    platform: string;
    status: ConnectionStatus;
    externalAccount: string | null;
    settings: Record<string, unknown>;
  };
  purgeRemote: boolean;
}

/** A connection as the sync engine and connectors see it. */
export interface SyncConnection {
  id: string;
  organizationId: string;
  userId: string;
  /** The user's e-mail: cases are assigned to users by e-mail. */
  userEmail: string;
  platform: string;
  externalAccount: string | null;
  settings: Record<string, unknown>;
}

/** Everything a connector's sync step needs; the access token is fresh (refreshed ahead of expiry). */
export interface SyncContext {
  services: ConnectorServices;
  connection: SyncConnection;
  consent: Consent;
  accessToken: string;
  actor: TransferActor;
}

/** What `sync_state` remembers of an item last written. */
export interface CurrentItem {
  key: string;
  remoteId: string;
  hash: string;
  etag: string | null;
  caseId: string | null;
}

/** One step of a reconcile plan. */
export type PlanStep =
  | { op: 'create'; key: string; desired: DesiredItem }
  | { op: 'update'; key: string; desired: DesiredItem; current: CurrentItem; reason: 'changed' | 'drift' }
  | { op: 'delete'; key: string; current: CurrentItem; reason: 'gone' | 'orphan' };

/**
 * The result of one step, as the engine records it. `calls` counts provider requests (rate-limit
 * accounting). `not_sent`: the step never left (the engine's signal stopped the chunk before it
 * started: a 429, a slow call); the engine sends it again later in the same run.
 */
export type StepResult =
  | { key: string; op: PlanStep['op']; outcome: 'done'; remoteId: string; etag: string | null; calls: number }
  | { key: string; op: PlanStep['op']; outcome: 'blocked'; reason: BlockReason; calls: 0 }
  | { key: string; op: PlanStep['op']; outcome: 'failed'; error: ProviderErrorClass; calls: number }
  | { key: string; op: PlanStep['op']; outcome: 'not_sent'; reason: string; calls: 0 };

/** How the engine runs one chunk of steps (see `ConnectorSync.apply`). */
export interface ApplyOptions {
  /** Calls under way at once (the engine runs several chunks side by side, usually one call each). */
  concurrency: number;
  /**
   * Pass to the gate's `sendMany`: aborted, the steps not yet started are not sent (no call; a row only
   * against an intent already written) and come back as `not_sent`, while calls under way finish.
   */
  signal?: AbortSignal;
  /**
   * Call as soon as the provider says "slow down", before the chunk ends: the engine pauses the
   * account for every chunk of the run (and every worker) at once. `code` is the classified error's
   * (`usage_limit`: a pause that grows on repeats).
   */
  onRateLimited?(retryAfterMs: number | null, code?: string): void;
  /**
   * Pass to the gate's `sendMany` (the gate's item index is the step's index): asked right before a
   * step leaves; a reason skips it (no call, no row; result `not_sent`). The engine uses it to hand the
   * steps queued behind a slow call to other lanes at once.
   */
  beforeSend?(index: number): string | null;
}

/** A remote item as drift repair sees it. */
export interface RemoteItem {
  remoteId: string;
  etag: string | null;
  deleted: boolean;
  /** The item key Casebridge stamped on it (e.g. from extendedProperties), if any. */
  key: string | null;
  /** Whether this connection created it (stamped connection id matches). */
  ours: boolean;
}

/** The sync half of a connector: the generic reconcile engine (`src/sync/reconcile.ts`) drives it. */
export interface ConnectorSync {
  /** Loads case data ∩ consent and projects it (the pure projection lives in `project.ts`). */
  desired(ctx: { services: ConnectorServices; connection: SyncConnection; consent: Consent }): Promise<DesiredItem[]>;
  /**
   * Makes sure the destination exists (e.g. creates the dedicated calendar) through the gate and
   * returns settings to persist. With `verify`, checks it still exists; `reset` tells the engine the
   * destination was re-created empty (sync_state must be forgotten). Zero provider calls when there
   * is nothing to do and `verify` is false.
   */
  prepare(ctx: SyncContext, options: { verify: boolean }): Promise<{ settings?: Record<string, unknown>; reset?: boolean; calls: number }>;
  /** Applies steps through the gate (`sendMany`), never throwing for one item's failure; one result per step, in order. */
  apply(ctx: SyncContext, steps: PlanStep[], options: ApplyOptions): Promise<StepResult[]>;
  /** Lists the remote side for drift repair (full reconcile); absent = no drift repair. */
  listRemote?(ctx: SyncContext): Promise<{ items: RemoteItem[]; calls: number }>;
  /** Whether drift (user edits/deletes on the provider side) is restored or left alone. */
  driftPolicy(settings: Record<string, unknown>): 'restore' | 'leave';
  classifyError(err: unknown): ProviderErrorClass;
}

/** A connector's user-facing settings: validation on create and patch, and what GET shows. */
export interface ConnectorSettings {
  /** Validates the settings given at connect time (output is stored). */
  create: z.ZodType<Record<string, unknown>>;
  /** Validates a PATCH (only the keys a user may change). */
  patch: z.ZodType<Record<string, unknown>>;
  /** The settings as the API shows them (provider facts included, nothing secret). */
  view(settings: Record<string, unknown>): Record<string, unknown>;
  /** Human-readable destination, e.g. "calendar Cases". */
  destination(settings: Record<string, unknown>): string | null;
  /**
   * Checks the validated create settings against the configuration and the network (e.g. that a
   * server URL the admin chose is allowed), before anything is written. A refusal becomes a 400.
   */
  check?(config: Config, settings: Record<string, unknown>): Promise<{ code: string; message: string } | null>;
}

/** What a connection remembers of the items it holds (sync_state), keyed by item key. */
export interface SyncStateStore {
  list(): Promise<CurrentItem[]>;
  /** Inserts or replaces items (idempotent: the same item twice leaves one row). */
  upsert(items: Array<{ key: string; remoteId: string; hash: string; etag?: string | null; caseId?: string | null }>): Promise<void>;
  remove(keys: string[]): Promise<void>;
}

/** Case data ∩ the connection's user and consent scope, loaded for projections. */
export interface CaseDataLoaders {
  events(): Promise<EventWithCase[]>;
  documents(): Promise<DocumentWithCase[]>;
}

/**
 * What a connector sees of Casebridge while it runs for one connection: narrow on purpose. Provider
 * calls go through the gate (`gate`, and the gated `httpClient` that only works inside a gate
 * `perform`); the access token is fresh (refreshed ahead of expiry, single flight).
 */
export interface ConnectorContext {
  connection: SyncConnection;
  consent: Consent;
  actor: TransferActor;
  gate: OutboundGate;
  /** A gated JSON-over-HTTP client authenticated with the connection's fresh access token. */
  httpClient(options: { name: string; baseUrl: string }): ProviderHttpClient;
  accessToken(): Promise<string>;
  state: SyncStateStore;
  /** The database, for the tables a connector owns (e.g. imported contacts); never case data directly. */
  db: Db;
  loaders: CaseDataLoaders;
  logger: Logger;
  config: Config;
  /** The clock (tests may fix it). */
  now(): Date;
}

/** One page of an import: the items and where the provider says to go on. */
export interface PullPage {
  /** Upserts (`deleted: false`) and deletions of remote items, applied idempotently by key. */
  items: Array<{ key: string; deleted: boolean; fields: Record<string, unknown> }>;
  /** `page`: more pages follow from `cursor`; `delta`: the import is complete, the next one starts at `cursor`. */
  next: { kind: 'page' | 'delta'; cursor: string };
}

/** What the pull engine lets a connector tell it while a page is being fetched. */
export interface PullFetchHooks {
  onNext?(next: PullPage['next']): void;
}

/** The pull half of a connector: the generic import engine (`src/sync/pull.ts`) drives it. */
export interface ConnectorPull {
  /**
   * Fetches one page through the gate (direction `inbound`), from `cursor` (null = from scratch).
   * Throws {@link CursorGoneError} when the provider no longer knows the cursor.
   * Optionally calls `hooks.onNext` with the page's `next` as soon as the provider's answer is in,
   * before the gate has logged its outcome: the engine may then ask for the following page while
   * this one is still being logged (see src/sync/pull.ts). Call it at most once, and only with the
   * `next` the page will be returned with.
   */
  fetchPage(ctx: ConnectorContext, cursor: string | null, hooks?: PullFetchHooks): Promise<PullPage>;
  /**
   * Applies a page's items idempotently (the same page twice changes nothing). The engine calls it
   * inside the transaction that stores the page's cursor: `ctx.db` (and `ctx.state`) are that
   * transaction — write through them, open no transaction of your own.
   */
  applyPage(ctx: ConnectorContext, items: PullPage['items']): Promise<void>;
  /**
   * Optional, instead of `applyPage`: applies a page AND stores its cursor in ONE statement that is
   * its own transaction (no BEGIN/COMMIT round trips). `storeCursor` is a data-modifying CTE
   * (`name AS (…)`) the statement must put in its WITH list; page and cursor then commit together
   * exactly as in the engine's transaction. `ctx.db` is the database (not a transaction): send
   * exactly one statement, whatever the page holds (an empty page still stores its cursor).
   */
  applyPageWithCursor?(ctx: ConnectorContext, items: PullPage['items'], storeCursor: RawBuilder<unknown>): Promise<void>;
  /**
   * After a from-scratch import that ran to the end: removes what was imported before and is no
   * longer at the provider (its keys are not in `seen`).
   */
  sweep?(ctx: ConnectorContext, seen: ReadonlySet<string>): Promise<number>;
  classifyError(err: unknown): ProviderErrorClass;
}

/** The provider no longer knows a stored cursor (Graph `410 syncStateNotFound`, Google `410 fullSyncRequired`). */
export class CursorGoneError extends Error {
  readonly code = 'cursor_gone';
  constructor(message = 'the provider no longer knows the stored cursor') {
    super(message);
    this.name = 'CursorGoneError';
  }
}

/** An e-mail sent from the connected account's own mailbox (an invitation "from my mailbox"). */
export interface MailboxMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Platforms that can send e-mail as the connected account (e.g. Graph `POST /me/sendMail`). */
export interface ConnectorMailbox {
  /** Whether the connection chose to send from its mailbox (a setting fixed at consent time, with its scope). */
  enabled(settings: Record<string, unknown>): boolean;
  /** Sends one message. Runs inside a gate `perform` (the caller's); throws the provider's error. */
  send(ctx: { config: Config; accessToken: () => Promise<string> }, message: MailboxMessage): Promise<{ status: number; bytes: number }>;
}

/** What the registry holds per platform. Optional pieces are absent where the platform has no such step. */
export interface Connector {
  manifest: ConnectorManifest;
  /**
   * Invalidates, inside the revocation's own transaction, credentials the platform keeps itself (a
   * feed token), so they die in the same commit as the connection. Given every revoked connection:
   * it must only touch its own rows.
   */
  revokeInTransaction?(tx: Tx, params: { connectionIds: string[]; at: Date }): Promise<void>;
  /** Provider-side revocation and clean-up (tokens are shredded by the caller afterwards). */
  revoke(ctx: RevokeContext): Promise<RevokeStepResult[]>;
  /** OAuth connectors: the provider specifics of the generic connect flow. */
  oauth?: ConnectorOAuth;
  /** Connectors kept in sync by the reconcile engine (capability `push`). */
  sync?: ConnectorSync;
  /** Connectors that import with a stored cursor (capability `pull`). */
  pull?: ConnectorPull;
  /** Connectors that can send e-mail from the connected mailbox (invitations "from my mailbox"). */
  mailbox?: ConnectorMailbox;
  settings?: ConnectorSettings;
  /** HTTP routes the platform brings (e.g. the feed a subscriber polls), registered in the API. */
  routes?: RouteModule[];
  /** OpenAPI examples of those routes' operations, by operationId (src/api/schemas/examples.ts adds them to the document). */
  operationExamples?: Record<string, OperationExample>;
  /** In-app pages the platform brings (e.g. managing iCal feeds), mounted with the core pages. */
  pages?: ConnectorPages;
}

/** An OpenAPI example of one operation: its JSON request body, its JSON answer, other media types' answers. */
export interface OperationExample {
  request?: unknown;
  response?: unknown;
  /** Non-JSON answers by media type (`text/calendar`, `text/csv`). */
  media?: Record<string, string>;
}

/** A connector's in-app pages: their paths (signed-in page security applies), navigation entry, and routes. */
export interface ConnectorPages {
  /** Hono path patterns the pages answer (e.g. `/feeds`, `/feeds/*`). */
  paths: string[];
  nav?: { id: string; href: string; label: string };
  /**
   * Where the platform's card on Connected apps leads instead of the generic consent screen (a
   * platform connected with more than a consent, e.g. an administrator's server address first).
   */
  card?: { href: string; label: string };
  /** Registers the routes; `kit` lends the connection domain functions and components a connector cannot import. */
  register(web: WebApp, kit: PageKit): void;
}
