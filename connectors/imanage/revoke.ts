import type { RevokeContext, RevokeStepResult } from '../types.ts';
import { logoutImanage } from './client.ts';

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
    if (ctx.purgeRemote)
      steps.push({ step: 'purge_remote', result: 'not_supported', detail: 'documents filed in iManage are the firm\u2019s record and stay there' });
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
