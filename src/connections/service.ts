import { sql } from 'kysely';
import { z } from 'zod';
import { connectorFor } from '../../connectors/registry.ts';
import type { Connector, SyncContext } from '../../connectors/types.ts';
import type { UserPrincipal } from '../auth/principal.ts';
import { caseScopeSchema } from '../consent/case-scope.ts';
import type { CategoryId } from '../consent/categories.ts';
import { grantConnectionConsent } from '../consent/grant.ts';
import { currentConsent } from '../consent/service.ts';
import { nextTimeIdCursor, type TimeIdCursor, timeIdKeyset } from '../db/page-cursor.ts';
import type { CaseScope, ConnectionStatus } from '../db/types.ts';
import { AuthError, NotFoundError } from '../errors/index.ts';
import type { Services } from '../services.ts';
import type { SyncProgress } from '../sync/progress.ts';
import { emitConnectionCreated } from '../webhooks/connection-events.ts';
import { connectionToManage } from './access.ts';
import { CallbackError, ConnectionsError } from './errors.ts';
import { connectionError } from './lifecycle.ts';
import { consumeAuthorization, startAuthorization } from './oauth.ts';
import { type OAuthClient, OAuthTokenError } from './oauth-types.ts';
import { announceTransition, applyTransition } from './state-machine.ts';
import { connectionTokens } from './token-access.ts';
import { vaultFor } from './token-refresh.ts';

/**
 * Connections of OAuth platforms, written once for all of them: create (pending + consent +
 * authorization URL), complete the authorization (tokens into the vault, account recorded, status
 * active, destination provisioned, first reconcile queued), read, change settings, reconnect.
 * Every query is scoped to the principal's organization; another organization's ids answer 404.
 */

/** What GET /v1/connections/:id shows. Never contains tokens. */
export interface ConnectionView {
  id: string;
  platform: string;
  platformName: string;
  status: ConnectionStatus;
  userId: string;
  account: string | null;
  categories: CategoryId[];
  caseScope: CaseScope | null;
  consent: { id: string; version: number; grantedAt: string; method: string } | null;
  settings: Record<string, unknown>;
  destination: string | null;
  lastSyncAt: string | null;
  lastFullSyncAt: string | null;
  counts: { synced: number; pending: number; errors: number };
  progress: Partial<SyncProgress> | null;
  lastError: { code: string; message: string; at: string } | null;
  actions: Array<{ action: string; method: 'POST'; href: string; description: string }>;
  createdAt: string;
  updatedAt: string;
}

export const createConnectionSchema = z.object({
  platform: z.string().min(1).max(64),
  categories: z.array(z.string()).min(1).max(20),
  caseScope: caseScopeSchema,
  settings: z.record(z.string(), z.unknown()).optional(),
  attestations: z.record(z.string(), z.string()).optional(),
  /** Pre-selects the account on the provider's sign-in page. */
  loginHint: z.string().max(320).optional(),
});
export type CreateConnectionInput = z.infer<typeof createConnectionSchema>;

/**
 * The platform's connector, when it signs in with OAuth and its client is known: the organization's
 * own registration (a platform whose servers are the organizations' own), else this deployment's.
 */
async function oauthConnector(
  services: Services,
  platform: string,
  organizationId: string,
): Promise<{ connector: Connector & { oauth: NonNullable<Connector['oauth']> }; client: OAuthClient | null }> {
  const connector = connectorFor(platform);
  if (!connector) throw new ConnectionsError('unknown_platform', `there is no platform "${platform}"`);
  if (!connector.oauth) {
    throw new ConnectionsError('platform_not_oauth', `${connector.manifest.displayName} is not connected through an account sign-in`);
  }
  const client = (await connector.oauth.organizationClient?.(services, organizationId)) ?? null;
  try {
    connector.oauth.clientId(services.config, undefined, client);
  } catch (err) {
    // Checked before anything is written: no pending connection is left behind.
    if (err instanceof OAuthTokenError && err.code === 'not_configured') {
      throw new ConnectionsError('platform_not_configured', `${connector.manifest.displayName} is not configured on this server; ask your administrator`);
    }
    throw err;
  }
  return { connector: connector as Connector & { oauth: NonNullable<Connector['oauth']> }, client };
}

function parseSettings(schema: z.ZodType<Record<string, unknown>> | undefined, value: unknown): Record<string, unknown> {
  if (!schema) return {};
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) {
    throw new ConnectionsError(
      'invalid_settings',
      'the settings are not valid',
      parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(settings)', message: i.message })),
    );
  }
  return parsed.data;
}

async function orgDisabledPlatforms(services: Services, organizationId: string): Promise<string[]> {
  const org = await services.db.selectFrom('organizations').select('settings').where('id', '=', organizationId).executeTakeFirst();
  return org?.settings?.disabledPlatforms ?? [];
}

/**
 * Creates a pending connection with its consent (granted by `grantConnectionConsent`, the same
 * function as a re-grant, in the same commit) and returns the provider authorization URL.
 */
export async function createConnection(
  services: Services,
  params: {
    principal: UserPrincipal;
    input: CreateConnectionInput;
    /**
     * How the consent was collected, chosen by the caller, never by the client: `api` for the API,
     * `consent_screen` only from a page that showed the categories to the user.
     */
    consentMethod: 'api' | 'consent_screen';
    ip: string | null;
    userAgent: string | null;
  },
): Promise<{ connection: ConnectionView; authorizationUrl: string; authorizationExpiresAt: string }> {
  const { principal, input } = params;
  const { connector, client } = await oauthConnector(services, input.platform, principal.organizationId);
  // An organization-level platform (the firm's own server) is connected for everyone: admins only.
  if (connector.manifest.level === 'organization' && principal.role !== 'admin') {
    throw new AuthError('admin_required', `only an administrator may connect ${connector.manifest.displayName} for the organization`);
  }
  if ((await orgDisabledPlatforms(services, principal.organizationId)).includes(connector.manifest.id)) {
    throw new ConnectionsError('platform_disabled', `your organization has switched ${connector.manifest.displayName} off`);
  }
  const settings = parseSettings(connector.settings?.create, input.settings);
  // Checks that need the configuration or the network (e.g. a host the admin chose), before anything is written.
  const refused = await connector.settings?.check?.(services.config, settings);
  if (refused) throw new ConnectionsError(refused.code, refused.message);
  const connection = await services.db.transaction().execute(async (tx) => {
    const row = await tx
      .insertInto('connections')
      .values({
        organization_id: principal.organizationId,
        user_id: principal.userId,
        platform: connector.manifest.id,
        status: 'pending',
        settings: JSON.stringify(settings),
        last_error: JSON.stringify(null),
        sync_progress: JSON.stringify(null),
      })
      .returning(['id', 'organization_id', 'user_id', 'platform', 'status'])
      .executeTakeFirstOrThrow();
    await emitConnectionCreated(tx, row);
    await grantConnectionConsent(services, {
      tx,
      connection: {
        id: row.id,
        organizationId: principal.organizationId,
        status: 'pending',
        platformName: connector.manifest.displayName,
        supportedCategories: connector.manifest.categories,
      },
      request: {
        grantedBy: principal.userId,
        categories: input.categories,
        caseScope: input.caseScope,
        method: params.consentMethod,
        ip: params.ip,
        userAgent: params.userAgent,
        attestations: input.attestations ?? {},
      },
    });
    return row;
  });
  const auth = await startAuthorization(services, {
    client,
    oauth: connector.oauth,
    settings,
    connectionId: connection.id,
    organizationId: principal.organizationId,
    userId: principal.userId,
    platform: connector.manifest.id,
    sessionId: principal.sessionId,
    purpose: 'connect',
    loginHint: input.loginHint,
    reuseRefreshTokenOf: await reusableGrant(services, connector, {
      organizationId: principal.organizationId,
      userId: principal.userId,
      account: input.loginHint ?? null,
      settings,
    }),
  });
  return {
    connection: await getConnection(services, { principal, id: connection.id }),
    authorizationUrl: auth.authorizationUrl,
    authorizationExpiresAt: auth.expiresAt,
  };
}

/** A fresh authorization URL for a pending connection, or to re-authorize one (reauth_required). */
export async function reauthorizeConnection(
  services: Services,
  params: { principal: UserPrincipal; id: string; loginHint?: string },
): Promise<{ authorizationUrl: string; authorizationExpiresAt: string }> {
  const row = await ownConnection(services, params.principal, params.id);
  if (row.status === 'revoked') throw new ConnectionsError('connection_revoked', 'this connection was revoked; create a new one');
  const { connector, client } = await oauthConnector(services, row.platform, row.organization_id);
  // After a callback without a refresh token, the next try shows the consent screen.
  const reuse =
    row.last_error?.code === 'refresh_token_missing'
      ? null
      : await reusableGrant(services, connector, {
          organizationId: row.organization_id,
          userId: row.user_id,
          account: row.external_account ?? params.loginHint ?? null,
          settings: row.settings ?? {},
          own: row.id,
        });
  const auth = await startAuthorization(services, {
    client,
    oauth: connector.oauth,
    settings: row.settings,
    connectionId: row.id,
    organizationId: row.organization_id,
    // Who signs in: the callback must come back to this session (another administrator may
    // reconnect an organization-level connection).
    userId: params.principal.userId,
    platform: row.platform,
    sessionId: params.principal.sessionId,
    purpose: row.status === 'pending' ? 'connect' : 'reconnect',
    loginHint: params.loginHint ?? row.external_account ?? undefined,
    reuseRefreshTokenOf: reuse,
  });
  return { authorizationUrl: auth.authorizationUrl, authorizationExpiresAt: auth.expiresAt };
}

/**
 * For providers that keep one grant per client and account (`consentParams`): a connection of the
 * same user, platform and account whose refresh token still works — checked by refreshing it, so a
 * grant the user revoked (or that expired) is not reused — and covers what these settings need. The
 * connection being reconnected (`own`) is tried first. Null means "show the consent screen": no
 * account known yet (no login hint), none found, or the provider could not be asked.
 */
async function reusableGrant(
  services: Services,
  connector: Connector & { oauth: NonNullable<Connector['oauth']> },
  params: { organizationId: string; userId: string; account: string | null; settings: Record<string, unknown>; own?: string },
): Promise<string | null> {
  const { oauth } = connector;
  if (!oauth.consentParams || !params.account) return null;
  const rows = await services.db
    .selectFrom('connections')
    .select(['id', 'settings'])
    .where('organization_id', '=', params.organizationId)
    .where('user_id', '=', params.userId)
    .where('platform', '=', connector.manifest.id)
    .where('external_account', '=', params.account.toLowerCase())
    .where('status', 'not in', ['pending', 'revoked'])
    .orderBy('updated_at', 'desc')
    .limit(10)
    .execute();
  const candidates = [...rows.filter((r) => r.id === params.own), ...rows.filter((r) => r.id !== params.own)].slice(0, 3);
  const vault = vaultFor(services);
  for (const candidate of candidates) {
    const stored = await vault.load(candidate.id).catch(() => null);
    if (!stored?.refreshToken) continue;
    try {
      const fresh = await oauth.refresh(services.config, { refreshToken: stored.refreshToken, settings: candidate.settings ?? {} });
      // The grant must already cover what this connection needs (else the consent screen must show).
      if (oauth.checkGrant?.({ ...fresh, scope: fresh.scope ?? stored.scope }, params.settings)) continue;
      return candidate.id;
    } catch (err) {
      // Revoked or expired (invalid_grant), or the provider could not be asked: the consent screen decides.
      const code = err instanceof OAuthTokenError ? err.code : 'error';
      services.logger.info({ connectionId: candidate.id, code }, 'refresh token not reusable; the consent screen is shown');
    }
  }
  return null;
}

/** The reused refresh token, if the connection it comes from still belongs to this user, platform and account. */
async function reusedRefreshToken(
  services: Services,
  params: { from: string; organizationId: string; userId: string; platform: string; account: string | null },
): Promise<string | null> {
  if (!params.account) return null;
  const row = await services.db
    .selectFrom('connections')
    .select('id')
    .where('id', '=', params.from)
    .where('organization_id', '=', params.organizationId)
    .where('user_id', '=', params.userId)
    .where('platform', '=', params.platform)
    .where('external_account', '=', params.account)
    .where('status', 'not in', ['pending', 'revoked'])
    .executeTakeFirst();
  if (!row) return null;
  return (
    (
      await vaultFor(services)
        .load(row.id)
        .catch(() => null)
    )?.refreshToken ?? null
  );
}

/** A connection the principal may manage ({@link connectionToManage}), all of its columns. */
async function ownConnection(services: Services, principal: UserPrincipal, id: string) {
  await connectionToManage(services.db, { principal, connectionId: id });
  return services.db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/**
 * Completes the authorization: the callback's `state` must be this session's and unused; the code is
 * exchanged (PKCE verifier from Redis), tokens go to the vault, the account is recorded, the
 * connection becomes active, its destination is provisioned and its first reconcile queued.
 */
export async function completeAuthorization(
  services: Services,
  params: { principal: UserPrincipal; state?: string; code?: string; error?: string },
): Promise<ConnectionView> {
  const { principal } = params;
  if (!params.state) throw new CallbackError('state_invalid', 'the callback carries no state; start connecting again');
  const consumed = await consumeAuthorization(services, { state: params.state, sessionId: principal.sessionId });
  if (!consumed.ok) throw new CallbackError(consumed.code, consumed.message);
  const pending = consumed.pending;
  if (pending.userId !== principal.userId || pending.organizationId !== principal.organizationId) {
    throw new CallbackError('state_session_mismatch', 'this authorization was started by someone else');
  }
  const row = await ownConnection(services, principal, pending.connectionId);
  if (row.status === 'revoked') throw new CallbackError('connection_revoked', 'this connection was revoked meanwhile; create a new one');
  const { connector, client } = await oauthConnector(services, row.platform, row.organization_id);

  if (params.error || !params.code) {
    const denied = params.error === 'access_denied';
    const message = denied
      ? `You cancelled the authorization at ${connector.manifest.displayName}; nothing was connected.`
      : `${connector.manifest.displayName} did not authorize the connection (${params.error ?? 'no code'}).`;
    await services.db
      .updateTable('connections')
      .set({ last_error: JSON.stringify(connectionError(denied ? 'authorization_denied' : 'authorization_failed', message)), updated_at: new Date() })
      .where('id', '=', row.id)
      .execute();
    throw new CallbackError(denied ? 'authorization_denied' : 'authorization_failed', message);
  }

  let tokens: Awaited<ReturnType<typeof connector.oauth.exchangeCode>>;
  try {
    tokens = await connector.oauth.exchangeCode(services.config, {
      code: params.code,
      codeVerifier: pending.codeVerifier,
      redirectUri: pending.redirectUri,
      settings: row.settings ?? {},
      client,
    });
  } catch (err) {
    const code = err instanceof OAuthTokenError ? err.code : 'error';
    services.logger.warn({ connectionId: row.id, code }, 'authorization code exchange failed');
    throw new CallbackError('token_exchange_failed', `${connector.manifest.displayName} did not accept the authorization (${code}); try connecting again`);
  }
  const account = connector.oauth.accountFromTokens?.(tokens) ?? null;
  if (row.external_account && account && row.external_account !== account) {
    throw new CallbackError(
      'account_mismatch',
      `this connection belongs to ${row.external_account}; you signed in as ${account}. Reconnect with the same account, or create a new connection.`,
    );
  }
  // A partial grant (a scope unticked on the consent screen) would look active until its first write fails.
  const refused = connector.oauth.checkGrant?.(tokens, row.settings) ?? null;
  if (refused) {
    await services.db
      .updateTable('connections')
      .set({ last_error: JSON.stringify(connectionError(refused.code, refused.message)), updated_at: new Date() })
      .where('id', '=', row.id)
      .execute();
    throw new CallbackError(refused.code, refused.message, { retry: { method: 'POST', href: `/v1/connections/${row.id}/reconnect` } });
  }
  const vault = vaultFor(services);
  // No consent screen was forced (a working grant is reused): the provider sent no refresh token.
  const reused =
    !tokens.refreshToken && pending.reuseRefreshTokenOf
      ? await reusedRefreshToken(services, {
          from: pending.reuseRefreshTokenOf,
          organizationId: row.organization_id,
          userId: row.user_id,
          platform: row.platform,
          account,
        })
      : null;
  const previous = row.status === 'pending' ? null : await vault.load(row.id).catch(() => null);
  const refreshToken = tokens.refreshToken ?? reused ?? previous?.refreshToken ?? null;
  if (!refreshToken && connector.oauth.consentParams) {
    // E.g. another account was chosen at the provider than the one whose grant was to be reused.
    const message = `${connector.manifest.displayName} gave Casebridge no lasting access this time. Connect again: you will be asked to confirm access.`;
    await services.db
      .updateTable('connections')
      .set({ last_error: JSON.stringify(connectionError('refresh_token_missing', message)), updated_at: new Date() })
      .where('id', '=', row.id)
      .execute();
    throw new CallbackError('refresh_token_missing', message, { retry: { method: 'POST', href: `/v1/connections/${row.id}/reconnect` } });
  }
  await services.db.transaction().execute(async (tx) => {
    await vault.save(
      row.id,
      {
        accessToken: tokens.accessToken,
        refreshToken,
        expiresAt: tokens.expiresAt,
        obtainedAt: Date.now(),
        scope: tokens.scope,
      },
      tx,
    );
    await applyTransition(tx, { ids: [row.id], to: 'active', externalAccount: account, lastError: null });
  });
  await announceTransition(services, [row.id]);

  if (connector.sync) {
    await provision(services, connector, row.id);
    await services.queues.scheduleFullReconcile(row.id);
    await services.queues.enqueueSync(row.id, pending.purpose === 'connect' ? 'connect' : 'reconnect');
  }
  // A pulled platform imports at once, then every IMPORT_INTERVAL_MINUTES (capability `pull`: src/sync/pull.ts via the import queue).
  if (connector.pull) {
    await services.queues.scheduleImport(row.id);
    await services.queues.enqueueImport(row.id, pending.purpose === 'connect' ? 'connect' : 'reconnect');
  }
  return getConnection(services, { principal, id: row.id });
}

/**
 * Creates the destination now (e.g. the dedicated calendar) so the user sees it at once. A failure
 * is not fatal: the first reconcile provisions again, and the error is shown meanwhile.
 */
async function provision(services: Services, connector: Connector, connectionId: string): Promise<void> {
  const sync = connector.sync!;
  const conn = await services.db
    .selectFrom('connections as c')
    .innerJoin('users as u', 'u.id', 'c.user_id')
    .select(['c.id', 'c.organization_id', 'c.user_id', 'u.email', 'c.platform', 'c.external_account', 'c.settings'])
    .where('c.id', '=', connectionId)
    .executeTakeFirstOrThrow();
  const consent = await currentConsent(services.db, connectionId);
  if (!consent || !connector.oauth) return;
  try {
    const tokens = connectionTokens(services, connector.oauth, conn.platform);
    const ctx: SyncContext = {
      services,
      connection: {
        id: conn.id,
        organizationId: conn.organization_id,
        userId: conn.user_id,
        userEmail: conn.email,
        platform: conn.platform,
        externalAccount: conn.external_account,
        settings: conn.settings,
      },
      consent,
      accessToken: await tokens.get(connectionId),
      actor: { kind: 'user', userId: conn.user_id },
    };
    const prepared = await sync.prepare(ctx, { verify: false });
    if (prepared.settings && Object.keys(prepared.settings).length) {
      await services.db
        .updateTable('connections')
        .set({ settings: sql`settings || ${JSON.stringify(prepared.settings)}::jsonb`, updated_at: new Date() })
        .where('id', '=', connectionId)
        .execute();
    }
  } catch (err) {
    services.logger.warn({ err, connectionId }, 'provisioning at connect failed; the first reconcile retries it');
    await services.db
      .updateTable('connections')
      .set({
        last_error: JSON.stringify(
          connectionError(
            'provisioning_failed',
            `Connected, but the destination could not be prepared yet (${(err as Error).message}). Casebridge keeps trying.`,
          ),
        ),
      })
      .where('id', '=', connectionId)
      .execute();
  }
}

/** The user's connections; an administrator may ask for the whole organization's. */
export async function listConnections(
  services: Services,
  params: { principal: UserPrincipal; all: boolean /** A page: at most this many, newest first. */; limit?: number; offset?: number },
): Promise<ConnectionView[]> {
  if (params.all && params.principal.role !== 'admin') throw new AuthError('admin_required', 'only administrators may list every connection');
  let q = services.db.selectFrom('connections').select('id').where('organization_id', '=', params.principal.organizationId);
  if (!params.all) q = q.where('user_id', '=', params.principal.userId);
  q = q.orderBy('created_at', 'desc').orderBy('id');
  if (params.limit !== undefined) q = q.limit(params.limit).offset(params.offset ?? 0);
  const ids = (await q.execute()).map((r) => r.id);
  return views(services, ids);
}

/**
 * A page of connections, newest first, for the API's `{ items, nextCursor }` lists: the principal's
 * own, or the organization's with `all` (administrators). `cursor` is the last page's position.
 */
export async function listConnectionsPage(
  services: Services,
  params: { principal: UserPrincipal; all: boolean; limit: number; cursor: TimeIdCursor | null },
): Promise<{ items: ConnectionView[]; nextCursor: string | null }> {
  if (params.all && params.principal.role !== 'admin') throw new AuthError('admin_required', 'only administrators may list every connection');
  const keyset = timeIdKeyset('connections');
  let q = services.db.selectFrom('connections').select(['id', 'created_at']).where('organization_id', '=', params.principal.organizationId);
  if (!params.all) q = q.where('user_id', '=', params.principal.userId);
  if (params.cursor) q = q.where(keyset.after(params.cursor));
  const rows = await q
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(params.limit + 1)
    .execute();
  const items = await views(
    services,
    rows.slice(0, params.limit).map((r) => r.id),
  );
  return { items, nextCursor: nextTimeIdCursor(rows, params.limit) };
}

/**
 * The live (not revoked) connections of an organization-level platform (the firm's own server),
 * newest first: everyone in the organization may see their status, since they carry everyone's
 * cases. Refused for a platform each member connects for themselves.
 */
export async function listOrganizationConnections(
  services: Services,
  params: { principal: UserPrincipal; platform: string; limit?: number },
): Promise<ConnectionView[]> {
  const connector = connectorFor(params.platform);
  if (!connector) throw new ConnectionsError('unknown_platform', `there is no platform "${params.platform}"`);
  if (connector.manifest.level !== 'organization') throw new NotFoundError('connection');
  const rows = await services.db
    .selectFrom('connections')
    .select('id')
    .where('organization_id', '=', params.principal.organizationId)
    .where('platform', '=', connector.manifest.id)
    .where('status', '!=', 'revoked')
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(params.limit ?? 10)
    .execute();
  return views(
    services,
    rows.map((r) => r.id),
  );
}

/** One connection: the owner's, or any of the organization's for an administrator. */
export async function getConnection(services: Services, params: { principal: UserPrincipal; id: string }): Promise<ConnectionView> {
  const row = await services.db
    .selectFrom('connections')
    .select(['id', 'user_id'])
    .where('id', '=', params.id)
    .where('organization_id', '=', params.principal.organizationId)
    .executeTakeFirst();
  if (!row || (row.user_id !== params.principal.userId && params.principal.role !== 'admin')) {
    throw new NotFoundError('connection');
  }
  const [view] = await views(services, [row.id]);
  return view!;
}

/** Changes the user-changeable settings and asks for a reconcile (names, reminders, drift policy). */
export async function updateConnectionSettings(
  services: Services,
  params: { principal: UserPrincipal; id: string; settings: unknown },
): Promise<ConnectionView> {
  const row = await ownConnection(services, params.principal, params.id);
  if (row.status === 'revoked') throw new ConnectionsError('connection_revoked', 'this connection was revoked');
  const connector = connectorFor(row.platform);
  const patch = parseSettings(connector?.settings?.patch, params.settings);
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  if (Object.keys(defined).length) {
    await services.db
      .updateTable('connections')
      .set({ settings: sql`settings || ${JSON.stringify(defined)}::jsonb`, updated_at: new Date() })
      .where('id', '=', row.id)
      .execute();
    if (row.status === 'active' && connector?.sync) await services.queues.enqueueSync(row.id, 'settings');
  }
  return getConnection(services, { principal: params.principal, id: row.id });
}

async function views(services: Services, ids: string[]): Promise<ConnectionView[]> {
  if (!ids.length) return [];
  const { db } = services;
  const rows = await db.selectFrom('connections').selectAll().where('id', 'in', ids).execute();
  const consents = await db
    .selectFrom('consents')
    .select(['id', 'connection_id', 'version', 'categories', 'case_scope', 'granted_at', 'method'])
    .where('connection_id', 'in', ids)
    .where('withdrawn_at', 'is', null)
    .execute();
  const synced = await db
    .selectFrom('sync_state')
    .select(['connection_id', (eb) => eb.fn.countAll().as('n')])
    .where('connection_id', 'in', ids)
    .groupBy('connection_id')
    .execute();
  const errors = await db
    .selectFrom('sync_item_errors')
    .select(['connection_id', (eb) => eb.fn.countAll().as('n')])
    .where('connection_id', 'in', ids)
    .groupBy('connection_id')
    .execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const consentBy = new Map(consents.map((c) => [c.connection_id, c]));
  const syncedBy = new Map(synced.map((s) => [s.connection_id, Number(s.n)]));
  const errorsBy = new Map(errors.map((s) => [s.connection_id, Number(s.n)]));
  return ids.flatMap((id): ConnectionView[] => {
    const r = byId.get(id);
    if (!r) return [];
    const connector = connectorFor(r.platform);
    const consent = consentBy.get(id);
    const progress = (r.sync_progress ?? null) as Partial<SyncProgress> | null;
    const running = progress && progress.state !== 'idle';
    const actions: ConnectionView['actions'] = [];
    if (connector?.oauth && (r.status === 'reauth_required' || r.status === 'pending')) {
      actions.push({
        action: r.status === 'pending' ? 'authorize' : 'reconnect',
        method: 'POST',
        href: `/v1/connections/${id}/reconnect`,
        description:
          r.status === 'pending'
            ? `Finish signing in to ${connector.manifest.displayName}.`
            : `Sign in to ${connector.manifest.displayName} again to resume syncing.`,
      });
    }
    return [
      {
        id,
        platform: r.platform,
        platformName: connector?.manifest.displayName ?? r.platform,
        status: r.status,
        userId: r.user_id,
        account: r.external_account,
        categories: (consent?.categories ?? []) as CategoryId[],
        caseScope: consent?.case_scope ?? null,
        consent: consent ? { id: consent.id, version: consent.version, grantedAt: consent.granted_at.toISOString(), method: consent.method } : null,
        settings: connector?.settings?.view(r.settings ?? {}) ?? {},
        destination: connector?.settings?.destination(r.settings ?? {}) ?? null,
        lastSyncAt: r.last_sync_at?.toISOString() ?? null,
        lastFullSyncAt: r.last_full_sync_at?.toISOString() ?? null,
        counts: {
          synced: syncedBy.get(id) ?? 0,
          pending: running && typeof progress?.remaining === 'number' ? Math.max(0, progress.remaining) : 0,
          errors: errorsBy.get(id) ?? 0,
        },
        progress,
        lastError: r.last_error ?? null,
        actions,
        createdAt: r.created_at.toISOString(),
        updatedAt: r.updated_at.toISOString(),
      },
    ];
  });
}
