import { recordAudit } from '../audit/audit-log.ts';
import { bumpRevocationEpoch } from '../consent/service.ts';
import { applyTransition, announceTransition } from '../connections/state-machine.ts';
import type { Services } from '../services.ts';
import { waitForInflightTransfers } from '../transfers/inflight.ts';
import { type RevocationRequester, requestRevocation } from './service.ts';

/** What switching a platform off did to the organization's existing connections. */
export interface PlatformSwitchResult {
  platform: string;
  enabled: boolean;
  /** Set when the existing connections were revoked. */
  revocationId?: string;
  connectionsRevoked?: number;
  /** Set when live connections were paused. */
  connectionsPaused?: number;
}

/**
 * Switches a platform on or off for an organization. Off stops new connections at once (the gate
 * and the connect flow read `disabledPlatforms`); existing connections are either revoked through
 * the revocation pipeline or paused. Before this returns, every gate has reloaded (epoch bump) and
 * calls already past the gate have drained, so nothing reaches the platform afterwards. On does not
 * resume paused connections: each user reconnects, which re-proves the account.
 */
export async function setPlatformEnabled(
  services: Services,
  params: {
    organizationId: string;
    platform: string;
    enabled: boolean;
    existingConnections: 'revoke' | 'pause';
    reason: string;
    requestedBy: RevocationRequester;
    enqueue: (revocationId: string) => Promise<void>;
  },
): Promise<PlatformSwitchResult> {
  const { db, redis, config } = services;
  const { organizationId, platform, enabled } = params;
  const org = await db.selectFrom('organizations').select('settings').where('id', '=', organizationId).executeTakeFirstOrThrow();
  const disabled = new Set(org.settings.disabledPlatforms ?? []);
  if (enabled) disabled.delete(platform);
  else disabled.add(platform);
  await db
    .updateTable('organizations')
    .set({ settings: JSON.stringify({ ...org.settings, disabledPlatforms: [...disabled] }), updated_at: new Date() })
    .where('id', '=', organizationId)
    .execute();

  let affected: Omit<PlatformSwitchResult, 'platform' | 'enabled'> = {};
  if (!enabled) {
    const live = await db
      .selectFrom('connections')
      .select('id')
      .where('organization_id', '=', organizationId)
      .where('platform', '=', platform)
      .where('status', 'not in', ['revoked'])
      .execute();
    const ids = live.map((r) => r.id);
    // The gate blocks a disabled platform via organization settings; the epoch bump makes every
    // process reload them at its next call, and the drain makes it true before we answer.
    await bumpRevocationEpoch(redis, config.REDIS_PREFIX, ids);
    await waitForInflightTransfers(redis, config.REDIS_PREFIX, ids);
    if (params.existingConnections === 'revoke') {
      const result = await requestRevocation(services, {
        organizationId,
        target: { kind: 'platform', platform },
        reason: params.reason,
        purgeRemote: false,
        requestedBy: params.requestedBy,
        enqueue: params.enqueue,
      });
      affected = { revocationId: result.revocationId, connectionsRevoked: result.connectionIds.length };
    } else if (ids.length) {
      const paused = await applyTransition(db, { ids, to: 'paused' });
      await announceTransition(services, paused);
      affected = { connectionsPaused: ids.length };
    }
  }
  await recordAudit(db, {
    organizationId,
    actor: params.requestedBy,
    action: enabled ? 'platform.enable' : 'platform.disable',
    target: `platform:${platform}`,
    details: { existingConnections: enabled ? null : params.existingConnections, reason: params.reason, ...affected },
  });
  return { platform, enabled, ...affected };
}
