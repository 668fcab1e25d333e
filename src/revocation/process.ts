import pLimit from 'p-limit';
import { connectorFor } from '../../connectors/registry.ts';
import type { RevokeStepResult } from '../../connectors/types.ts';
import type { Services } from '../services.ts';
import { settleTransfers } from '../transfers/resolution.ts';
import { loadRevocation, sealRevocation } from './receipt.ts';
import { clearSyncState, type ConnectionSteps, isPending, LOCAL_STEPS, mergeSteps, shredTokens } from './steps.ts';

/**
 * The revocation pipeline's asynchronous half, run by the `revoke` queue. First, the calls that were
 * still in flight when the revocation answered (`calls_outcome_unknown`) are settled and resolved by
 * reading the provider (see `transfers/resolution.ts#settleTransfers`). Then, per connection:
 * 1. `cancel_jobs`: waiting and delayed jobs removed (a running one already stops at its next gate
 *    call, because the connection is revoked);
 * 2. the connector's provider-side steps (token revoke, optional remote purge);
 * 3. `shred_tokens`: the stored ciphertext deleted (crypto-shredding), and `clear_sync_state`:
 *    sync_state, item errors and the import cursor forgotten — after the provider steps succeeded
 *    (they need the token and the remote ids), or on the final attempt whatever the provider said.
 *    Both are the engine's, for every platform (src/revocation/steps.ts); connectors supply only
 *    their provider-side steps.
 * Steps that succeeded are never repeated; failed ones are retried by the queue and shown as
 * `failed` (pending) in the progress until they succeed or attempts run out.
 */

export interface ProcessRevocationOptions {
  revocationId: string;
  /** Last attempt: shred tokens and seal the receipt even if provider steps failed. */
  finalAttempt: boolean;
  /** Removes waiting/delayed jobs of these connections; returns how many were removed. */
  cancelJobs(connectionIds: string[]): Promise<number>;
}

export async function processRevocation(services: Services, options: ProcessRevocationOptions): Promise<'sealed' | 'retry'> {
  const { db, logger } = services;
  const row = await loadRevocation(db, options.revocationId);
  if (!row) throw new Error(`revocation ${options.revocationId} not found`);
  if (row.status !== 'in_progress') return 'sealed';
  const ids = row.connection_ids as unknown as string[];
  // Calls that were in flight when the revocation answered: wait until each is settled and resolved
  // (reading the provider, with the tokens not yet revoked) before the provider-side steps, so the
  // receipt can say whether each write took effect and a purge removes what a late write created.
  const inFlight = row.calls_outcome_unknown ?? [];
  if (inFlight.some((c) => c.resolution === 'pending' || c.resolution === 'unresolved')) {
    const settled = await settleTransfers(
      services,
      inFlight.map((c) => c.transferId),
    );
    await db
      .updateTable('revocations')
      .set({ calls_outcome_unknown: JSON.stringify(settled) })
      .where('id', '=', row.id)
      .execute();
  }
  const recorded = new Map((row.steps as unknown as ConnectionSteps[]).map((c) => [c.connectionId, c]));
  const connections = ids.length
    ? await db
        .selectFrom('connections')
        .select(['id', 'organization_id', 'user_id', 'platform', 'status', 'external_account', 'settings'])
        .where('id', 'in', ids)
        .execute()
    : [];

  let jobsCancelled = 0;
  let removed = 0;
  let anyFailed = false;
  const limit = pLimit(8);
  const results = await Promise.all(
    connections.map((conn) =>
      limit(async (): Promise<ConnectionSteps> => {
        const prev = recorded.get(conn.id)?.steps ?? [];
        const now = () => new Date();
        let steps = prev;
        const byName = (name: string) => steps.find((s) => s.step === name);

        if (isPending(byName('cancel_jobs'))) {
          let step: RevokeStepResult;
          try {
            const n = await options.cancelJobs([conn.id]);
            jobsCancelled += n;
            step = { step: 'cancel_jobs', result: 'done', detail: `${n} waiting or delayed job(s) removed` };
          } catch (err) {
            step = { step: 'cancel_jobs', result: 'failed', detail: (err as Error).message };
          }
          steps = mergeSteps(steps, [step], now());
        }

        const providerSteps = steps.filter((s) => !LOCAL_STEPS.has(s.step));
        if (!providerSteps.length || providerSteps.some((s) => s.result === 'failed')) {
          const connector = connectorFor(conn.platform);
          let res: RevokeStepResult[];
          if (!connector) {
            res = [{ step: 'provider_revoke', result: 'not_supported', detail: `no connector registered for ${conn.platform}` }];
          } else {
            try {
              res = await connector.revoke({
                services,
                purgeRemote: row.purge_remote,
                connection: {
                  id: conn.id,
                  organizationId: conn.organization_id,
                  userId: conn.user_id,
                  platform: conn.platform,
                  status: conn.status,
                  externalAccount: conn.external_account,
                  settings: conn.settings,
                },
              });
            } catch (err) {
              logger.warn({ err, connectionId: conn.id }, 'provider-side revocation step threw');
              res = [{ step: 'provider_revoke', result: 'failed', detail: (err as Error).message }];
            }
          }
          // Only steps not already done are replaced: a success is never undone by a later attempt.
          const fresh = res.filter((r) => isPending(byName(r.step)));
          for (const r of fresh) if (r.result === 'done') removed += r.removedItems ?? 0;
          steps = mergeSteps(steps, fresh, now());
        }

        const providerFailed = steps.some((s) => !LOCAL_STEPS.has(s.step) && s.result === 'failed');
        if (!providerFailed || options.finalAttempt) {
          for (const [name, run] of [
            ['shred_tokens', shredTokens],
            ['clear_sync_state', clearSyncState],
          ] as const) {
            if (!isPending(byName(name))) continue;
            let step: RevokeStepResult;
            try {
              step = await run(db, conn.id);
            } catch (err) {
              step = { step: name, result: 'failed', detail: (err as Error).message };
            }
            steps = mergeSteps(steps, [step], now());
          }
        }
        if (steps.some((s) => s.result === 'failed') || isPending(byName('shred_tokens')) || isPending(byName('clear_sync_state'))) anyFailed = true;
        return { connectionId: conn.id, platform: conn.platform, externalAccount: conn.external_account, userId: conn.user_id, steps };
      }),
    ),
  );

  await db
    .updateTable('revocations')
    .set((eb) => ({
      steps: JSON.stringify(results),
      jobs_cancelled: eb('jobs_cancelled', '+', jobsCancelled),
      remote_items_removed: eb('remote_items_removed', '+', removed),
    }))
    .where('id', '=', row.id)
    .execute();

  if (anyFailed && !options.finalAttempt) return 'retry';
  await sealRevocation(services, row.id);
  return 'sealed';
}
