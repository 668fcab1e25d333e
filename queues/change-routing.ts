import { sql } from 'kysely';
import { connectors } from '../connectors/registry.ts';
import type { Connector, DataTrigger } from '../connectors/types.ts';
import type { ChangeFeed, DataChange } from '../src/cases/change-feed.ts';
import { caseInScope } from '../src/consent/case-scope.ts';
import type { Db } from '../src/db/database.ts';
import type { CaseScope } from '../src/db/types.ts';
import type { Logger } from '../src/observability/logger.ts';
import type { CasebridgeQueues } from './definitions.ts';

/** The manifest trigger a changed entity of the change feed answers to. */
const TRIGGER_OF: Record<DataChange['entities'][number], DataTrigger> = { case: 'cases', event: 'events', document: 'documents', contact: 'contacts' };

/** Platforms kept in sync by the push engine whose manifest declares a trigger the change touches. */
export function platformsTriggeredBy(change: Pick<DataChange, 'entities'>, registry: readonly Connector[] = connectors): string[] {
  const triggers = new Set(change.entities.map((e) => TRIGGER_OF[e]));
  return registry
    .filter((c) => c.sync && c.manifest.capabilities.includes('push') && c.manifest.triggers.some((t) => triggers.has(t)))
    .map((c) => c.manifest.id);
}

/**
 * From a committed case-data change to the connections whose remote side may now differ: active
 * connections of a platform the change triggers whose user is assigned to a changed case (and whose
 * consent scope covers it), or that already hold items of a changed case (so unassignments and
 * deletions propagate).
 */
export async function connectionsForChange(db: Db, change: DataChange, registry: readonly Connector[] = connectors): Promise<string[]> {
  const platforms = platformsTriggeredBy(change, registry);
  const caseIds = [...new Set(change.caseIds)];
  if (!platforms.length || !caseIds.length) return [];
  const rows = await db
    .selectFrom('connections as c')
    .innerJoin('users as u', 'u.id', 'c.user_id')
    .leftJoin('consents as cs', (j) => j.onRef('cs.connection_id', '=', 'c.id').on('cs.withdrawn_at', 'is', null))
    .select(['c.id', 'c.platform', 'cs.case_scope'])
    .select((eb) =>
      eb
        .exists(eb.selectFrom('sync_state as s').select(sql`1`.as('one')).whereRef('s.connection_id', '=', 'c.id').where('s.case_id', 'in', caseIds))
        .as('holds_items'),
    )
    .select((eb) =>
      eb
        .selectFrom('cases as k')
        .select(sql<string[]>`coalesce(jsonb_agg(k.id), '[]'::jsonb)`.as('ids'))
        .where('k.id', 'in', caseIds)
        .where('k.organization_id', '=', change.organizationId)
        .where(sql<boolean>`k.assignees @> jsonb_build_array(lower(u.email))`)
        .as('assigned_case_ids'),
    )
    .where('c.organization_id', '=', change.organizationId)
    .where('c.status', '=', 'active')
    .where('c.platform', 'in', platforms)
    .execute();
  // Organization-level connections (a firm's server) carry every case of the organization, assigned or not.
  // Practice areas of the changed cases, for scopes by practice area (read only when one needs them).
  const areas = new Map<string, string | null>();
  if (rows.some((r) => (r.case_scope as CaseScope | null)?.kind === 'practice_areas')) {
    const cases = await db
      .selectFrom('cases')
      .select(['id', 'practice_area'])
      .where('id', 'in', caseIds)
      .where('organization_id', '=', change.organizationId)
      .execute();
    for (const c of cases) areas.set(c.id, c.practice_area);
  }
  const orgLevel = new Set(registry.filter((c) => c.manifest.level === 'organization').map((c) => c.manifest.id));
  return rows
    .filter((r) => {
      if (r.holds_items) return true;
      const assigned = orgLevel.has(r.platform) ? caseIds : ((r.assigned_case_ids ?? []) as string[]);
      if (!assigned.length) return false;
      const scope = r.case_scope as CaseScope | null;
      return !scope || assigned.some((id) => caseInScope(scope, { id, practiceArea: areas.get(id) }));
    })
    .map((r) => r.id);
}

/** Subscribes the sync queue to the change feed. Returns the unsubscribe function. */
export function subscribeSyncToChanges(deps: { db: Db; changeFeed: ChangeFeed; queues: CasebridgeQueues; logger: Logger }): () => void {
  return deps.changeFeed.subscribe(async (change) => {
    const ids = await connectionsForChange(deps.db, change);
    if (ids.length) await deps.queues.enqueueSyncMany(ids, 'change');
    deps.logger.debug({ organizationId: change.organizationId, connections: ids.length }, 'reconciles enqueued for a data change');
  });
}
