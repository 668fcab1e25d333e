import { markReauthRequired } from '../../src/connections/lifecycle.ts';
import { createTokenAccess, vaultFor } from '../../src/connections/token-refresh.ts';
import type { ConnectorOAuth } from '../../src/connections/oauth-types.ts';
import { REVOCATION_PURGE } from '../../src/transfers/decision.ts';
import { openGoogleCalendar, ProviderHttpError, revokeGoogleToken } from './client.ts';
import type { RevokeContext, RevokeStepResult } from '../types.ts';
import type { GoogleCalendarSettings } from './manifest.ts';

/**
 * Provider-side revocation for Google Calendar:
 * 1. `purge_remote` (when asked): delete the dedicated calendar whole if Casebridge created it, else
 *    delete each synced event — through the gate with purpose `revocation_purge`;
 * 2. `provider_revoke`: POST the refresh token (or access token) to Google's revoke endpoint, which
 *    ends the whole grant of this client and account — skipped while another active connection of
 *    the same Google account still uses it. Tokens are shredded by the caller afterwards.
 */
export function createGoogleRevoke(oauth: ConnectorOAuth) {
  return async function revokeGoogle(ctx: RevokeContext): Promise<RevokeStepResult[]> {
    const { services, connection } = ctx;
    const steps: RevokeStepResult[] = [];
    const vault = vaultFor(services);
    let tokens: Awaited<ReturnType<typeof vault.load>> = null;
    try {
      tokens = await vault.load(connection.id);
    } catch (err) {
      steps.push({ step: 'provider_revoke', result: 'failed', detail: `stored tokens unreadable: ${(err as Error).message}` });
      return steps;
    }

    if (ctx.purgeRemote) steps.push(await purge(ctx, tokens !== null, oauth));

    if (!tokens) {
      steps.push({ step: 'provider_revoke', result: 'skipped', detail: 'no stored tokens (never connected, or already shredded)' });
      return steps;
    }
    // Google keeps one grant per client and account: revoking this connection's token would end
    // every other connection of the same Google account too. Leave the grant to them (this
    // connection's tokens are shredded by the caller) and say so on the receipt.
    const siblings = connection.externalAccount ? await liveSiblings(ctx, connection.externalAccount) : 0;
    if (siblings > 0) {
      steps.push({
        step: 'provider_revoke',
        result: 'skipped',
        detail:
          `not revoked at Google: ${siblings} other active connection(s) of this Google account share the grant and keep working; ` +
          "this connection's tokens are deleted here. Google ends the grant when the last of them is revoked.",
      });
      return steps;
    }
    try {
      const { status } = await revokeGoogleToken(services.config, { token: tokens.refreshToken ?? tokens.accessToken });
      // 400 invalid_token: the grant was already gone (user removed access in their Google account).
      if (status === 200 || status === 400) {
        steps.push({
          step: 'provider_revoke',
          result: 'done',
          providerStatus: status,
          detail: status === 200 ? 'Google revoked the grant' : 'the grant was already revoked at Google',
        });
      } else steps.push({ step: 'provider_revoke', result: 'failed', providerStatus: status, detail: `Google answered ${status}` });
    } catch (err) {
      steps.push({ step: 'provider_revoke', result: 'failed', detail: (err as Error).message });
    }
    return steps;
  };
}

/** Connections other than this one that still use the same Google account's grant. */
async function liveSiblings(ctx: RevokeContext, account: string): Promise<number> {
  const row = await ctx.services.db
    .selectFrom('connections')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('platform', '=', ctx.connection.platform)
    .where('external_account', '=', account)
    .where('id', '!=', ctx.connection.id)
    .where('status', 'in', ['active', 'paused'])
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

async function purge(ctx: RevokeContext, hasTokens: boolean, oauth: ConnectorOAuth): Promise<RevokeStepResult> {
  const { services, connection } = ctx;
  const settings = connection.settings as GoogleCalendarSettings;
  if (!hasTokens) return { step: 'purge_remote', result: 'skipped', detail: 'no stored tokens to reach Google with' };
  if (!settings.calendarId) return { step: 'purge_remote', result: 'done', removedItems: 0, detail: 'nothing was ever written' };
  let accessToken: string;
  try {
    accessToken = await createTokenAccess(services, {
      oauth,
      onReauthRequired: (id, message) => markReauthRequired(services, id, message).then(() => undefined),
    }).get(connection.id);
  } catch (err) {
    return { step: 'purge_remote', result: 'failed', detail: `no usable access token: ${(err as Error).message}` };
  }
  const api = openGoogleCalendar({ config: services.config, accessToken });
  const rows = await services.db.selectFrom('sync_state').select(['item_key', 'remote_id', 'case_id']).where('connection_id', '=', connection.id).execute();
  const ctxGate = { connectionId: connection.id, purpose: REVOCATION_PURGE, actor: { kind: 'system' as const, reason: 'revocation' } };
  const recipient = { account: connection.externalAccount, destination: settings.calendarId };

  if (settings.calendarCreatedByCasebridge) {
    const r = await services.gate.send(
      ctxGate,
      {
        operation: 'delete',
        categories: [],
        subjects: { caseIds: [...new Set(rows.map((x) => x.case_id).filter((x): x is string => !!x))] },
        recipient,
        fields: {},
        itemKey: 'calendar',
      },
      async () => {
        try {
          const res = await api.deleteCalendar(settings.calendarId!);
          return { value: null, status: res.status, remoteId: settings.calendarId! };
        } catch (err) {
          if (err instanceof ProviderHttpError && (err.status === 404 || err.status === 410))
            return { value: null, status: err.status, remoteId: settings.calendarId! };
          throw err;
        }
      },
    );
    if (r.outcome !== 'sent')
      return { step: 'purge_remote', result: 'failed', detail: r.outcome === 'blocked' ? `gate refused: ${r.reason}` : (r.error as Error).message };
    await services.db.deleteFrom('sync_state').where('connection_id', '=', connection.id).execute();
    return { step: 'purge_remote', result: 'done', removedItems: rows.length, detail: 'the dedicated calendar was deleted' };
  }

  const results = await services.gate.sendMany(
    ctxGate,
    rows.map((row) => ({
      operation: 'delete' as const,
      categories: [] as [],
      subjects: { ...(row.case_id ? { caseIds: [row.case_id] } : {}), eventIds: [row.item_key.replace(/^event:/, '')] },
      recipient,
      fields: {},
      itemKey: row.item_key,
    })),
    async (_m, _item, i) => {
      const row = rows[i]!;
      try {
        const res = await api.deleteEvent(settings.calendarId!, row.remote_id);
        return { value: null, status: res.status, remoteId: row.remote_id };
      } catch (err) {
        if (err instanceof ProviderHttpError && (err.status === 404 || err.status === 410)) return { value: null, status: err.status, remoteId: row.remote_id };
        throw err;
      }
    },
    { concurrency: 4 },
  );
  const done = rows.filter((_, i) => results[i]!.outcome === 'sent').map((r) => r.item_key);
  if (done.length) await services.db.deleteFrom('sync_state').where('connection_id', '=', connection.id).where('item_key', 'in', done).execute();
  const failed = rows.length - done.length;
  return failed
    ? { step: 'purge_remote', result: 'failed', removedItems: done.length, detail: `${failed} synced event(s) could not be deleted yet` }
    : { step: 'purge_remote', result: 'done', removedItems: done.length, detail: 'every synced event was deleted' };
}
