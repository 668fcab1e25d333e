import { REVOCATION_PURGE } from '../../src/transfers/decision.ts';
import type { RevokeContext, RevokeStepResult } from '../types.ts';
import { logoutImanage, openImanage } from './client.ts';
import type { ImanageSettings } from './manifest.ts';
import { removeDocuments } from './remove.ts';

/**
 * Provider-side revocation for iManage: documents stay in the DMS (the firm's record; no purge),
 * the remembered workspace mapping is forgotten, and the session is ended with `GET /auth/logout`
 * (iManage has no token revocation endpoint; logging out invalidates the access token). Tokens are
 * shredded by the caller afterwards.
 */
export function createImanageRevoke() {
  return async function revokeImanage(ctx: RevokeContext): Promise<RevokeStepResult[]> {
    const { services, connection } = ctx;
    const steps: RevokeStepResult[] = [];
    const removed = await services.db.deleteFrom('imanage_case_folders').where('connection_id', '=', connection.id).executeTakeFirst();
    steps.push({ step: 'forget_mapping', result: 'done', removedItems: Number(removed.numDeletedRows ?? 0) });
    const settings = connection.settings as unknown as ImanageSettings;
    const policy = settings.deletePolicy ?? 'leave';
    if (ctx.purgeRemote) {
      steps.push(
        policy === 'leave'
          ? {
              step: 'purge_remote',
              result: 'not_supported',
              detail: 'documents filed in iManage are the firm\u2019s record and stay there (delete policy: leave)',
            }
          : await purge(ctx, policy),
      );
    }
    const tokens = ctx.tokens;
    let stored: Awaited<ReturnType<NonNullable<typeof tokens>['stored']>> = null;
    try {
      stored = (await tokens?.stored()) ?? null;
    } catch (err) {
      steps.push({ step: 'provider_revoke', result: 'failed', detail: `stored tokens unreadable: ${(err as Error).message}` });
      return steps;
    }
    if (!stored || !tokens) {
      steps.push({ step: 'provider_revoke', result: 'skipped', detail: 'no stored tokens (never connected, or already shredded)' });
      return steps;
    }
    try {
      // A fresh token: an idle one (30 minutes) is already dead and logging it out proves nothing.
      const accessToken = await tokens.accessToken().catch(() => stored!.accessToken);
      const { status } = await logoutImanage(services.config, { settings: connection.settings, accessToken });
      if (status < 300 || status === 401) {
        steps.push({
          step: 'provider_revoke',
          result: 'done',
          providerStatus: status,
          detail: status === 401 ? 'the session had already ended at iManage' : 'logged out at iManage',
        });
      } else steps.push({ step: 'provider_revoke', result: 'failed', providerStatus: status, detail: `iManage answered ${status}` });
    } catch (err) {
      steps.push({ step: 'provider_revoke', result: 'failed', detail: (err as Error).message });
    }
    return steps;
  };
}

/** The connection's delete policy applied to every document it filed (a revocation that purges remote copies). */
async function purge(ctx: RevokeContext, policy: 'delete' | 'mark'): Promise<RevokeStepResult> {
  const { services, connection } = ctx;
  const settings = connection.settings as unknown as ImanageSettings;
  const rows = await services.db.selectFrom('sync_state').select(['item_key', 'remote_id', 'case_id']).where('connection_id', '=', connection.id).execute();
  if (!rows.length) return { step: 'purge_remote', result: 'done', removedItems: 0, detail: 'nothing was ever filed' };
  let accessToken: string;
  try {
    if (!ctx.tokens) throw new Error('no stored tokens');
    accessToken = await ctx.tokens.accessToken();
  } catch (err) {
    return { step: 'purge_remote', result: 'failed', detail: `no usable access token: ${(err as Error).message}` };
  }
  const api = openImanage({ config: services.config, settings: connection.settings, accessToken });
  const results = await removeDocuments(
    { services, connection, actor: { kind: 'system', reason: 'revocation' } },
    {
      policy,
      markField: settings.markField ?? 'custom15',
      keyField: settings.keyField ?? 'custom16',
      purpose: REVOCATION_PURGE,
      client: () => api,
      stop: new AbortController(),
      concurrency: 4,
    },
    rows.map((r) => ({ key: r.item_key, remoteId: r.remote_id, caseId: r.case_id })),
  );
  const done = rows.filter((_, i) => results[i]!.outcome === 'done').map((r) => r.item_key);
  if (done.length) await services.db.deleteFrom('sync_state').where('connection_id', '=', connection.id).where('item_key', 'in', done).execute();
  const verb = policy === 'delete' ? 'deleted' : 'marked removed';
  const failed = rows.length - done.length;
  return failed
    ? { step: 'purge_remote', result: 'failed', removedItems: done.length, detail: `${failed} filed document(s) could not be ${verb} yet` }
    : { step: 'purge_remote', result: 'done', removedItems: done.length, detail: `every filed document was ${verb} in iManage` };
}
