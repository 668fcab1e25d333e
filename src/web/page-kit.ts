import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { CategoryId } from '../consent/categories.ts';
import type { CaseScope, ConnectionStatus } from '../db/types.ts';
import type { WebEnv } from './env.ts';

/**
 * What the core pages lend the pages a connector brings (`ConnectorPages.register(web, kit)`): the
 * connection domain functions and page components a connector may not import itself (they reach the
 * connector registry, which imports the connectors). Built in src/web/pages/organization-connection.tsx.
 */

/** A connection as a connector's page shows it (a subset of the API's `ConnectionView`). */
export interface KitConnectionView {
  id: string;
  platform: string;
  platformName: string;
  status: ConnectionStatus;
  userId: string;
  categories: CategoryId[];
  caseScope: CaseScope | null;
  consent: { id: string; version: number; grantedAt: string; method: string } | null;
  settings: Record<string, unknown>;
  lastSyncAt: string | null;
  counts: { synced: number; pending: number; errors: number };
  lastError: { code: string; message: string; at: string } | null;
}

export interface PageKit {
  /** The organization's live connections of an organization-level platform, newest first (every member may see them). */
  organizationConnections(c: Context<WebEnv>, platform: string): Promise<KitConnectionView[]>;
  /** The generic consent form (categories, attestations, policy version, live preview) with the organization's case scopes. */
  organizationConsentForm(
    c: Context<WebEnv>,
    props: {
      platform: string;
      action: string;
      hidden: Record<string, string>;
      cancel: string;
      initial?: { categories: CategoryId[]; caseScope: CaseScope };
      submitLabel?: string;
      next?: string;
    },
  ): Promise<Child>;
  /** Records the posted consent (method `consent_screen`) with a pending connection carrying `settings`; the provider's authorization URL. */
  connectOrganization(
    c: Context<WebEnv>,
    params: { platform: string; settings: Record<string, unknown>; form: Record<string, string | File | (string | File)[]> },
  ): Promise<string>;
  /** Changes the connection's settings (the connector's patch schema) and starts the sync that applies them. */
  changeSettings(c: Context<WebEnv>, id: string, settings: Record<string, unknown>): Promise<void>;
  /** Records the posted choices as a new consent version (method `consent_screen`) and starts the sync that applies it; the new version. */
  changeConsent(c: Context<WebEnv>, params: { platform: string; id: string; form: Record<string, string | File | (string | File)[]> }): Promise<number>;
  /** The live status block of a connection (re-fetched from `liveUrl` while a sync runs). */
  Progress(props: { view: KitConnectionView; liveUrl: string }): Child;
}
