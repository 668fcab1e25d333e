import type { CategoryId } from '../src/consent/categories.ts';
import type { ConnectionStatus } from '../src/db/types.ts';
import type { Services } from '../src/services.ts';

/**
 * The shape every Additional Platform shares (`connectors/<platform>/`). A registry line plus a
 * folder with these pieces adds a platform:
 * - manifest.ts: what the platform is and may carry;
 * - project.ts: pure, case data ∩ consent -> desired remote items with a content hash;
 * - apply.ts: create/update/delete through the outbound gate;
 * - errors.ts: provider error -> transient | auth_failed | permanent | rate_limited;
 * - revoke.ts: provider-side token revoke and optional remote clean-up.
 */

export interface ConnectorManifest {
  /** Platform id stored in connections.platform, e.g. `google_calendar`, `ical`. */
  id: string;
  displayName: string;
  authKind: 'oauth2' | 'feed_token';
  /** Categories this platform can carry (a subset of the registry). */
  categories: CategoryId[];
  /** Categories pre-selected on the consent screen: the minimum that makes the platform useful. */
  defaultCategories: CategoryId[];
  /** Provider rate limits applied per external account, shared by all workers. */
  rateLimits?: { perAccountPerMinute?: number; perProjectPerMinute?: number; concurrentPerAccount?: number };
  /** Whether the provider offers a token revocation endpoint. */
  providerRevoke: boolean;
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
}

export type ProviderErrorClass =
  | { kind: 'transient'; message: string }
  | { kind: 'auth_failed'; message: string; reauthRequired: boolean }
  | { kind: 'permanent'; message: string }
  | { kind: 'rate_limited'; message: string; retryAfterMs: number | null };

/** The result of a connector's provider-side revocation step, for the revocation receipt. */
export interface RevokeStepResult {
  step: string;
  result: 'done' | 'not_supported' | 'failed' | 'skipped';
  detail?: string;
  providerStatus?: number;
  removedItems?: number;
}

export interface RevokeContext {
  services: Services;
  connection: { id: string; organizationId: string; userId: string; platform: string; status: ConnectionStatus; externalAccount: string | null; settings: Record<string, unknown> };
  purgeRemote: boolean;
}

/** What the registry holds per platform. Optional pieces are absent where the platform has no such step. */
export interface Connector {
  manifest: ConnectorManifest;
  /** Provider-side revocation and clean-up (tokens are shredded by the caller afterwards). */
  revoke(ctx: RevokeContext): Promise<RevokeStepResult[]>;
}
