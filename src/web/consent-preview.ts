import { connectorFor } from '../../connectors/registry.ts';
import { CATEGORIES, type CategoryId } from '../consent/categories.ts';
import type { Consent } from '../consent/service.ts';
import { CURRENT_POLICY_VERSION } from '../consent/service.ts';
import type { CaseScope } from '../db/types.ts';
import type { Services } from '../services.ts';
import { decideTransfer } from '../transfers/decision.ts';
import type { TransferItem } from '../transfers/types.ts';

/**
 * What a consent would let leave, computed the way a sync computes it and sending nothing: the
 * connector's own projection (`connector.sync.desired`, case data ∩ the chosen consent) and then the
 * gate's own decision and minimisation (`decideTransfer`) for each item, as if the connection were
 * active. The consent screen shows the first items; the browser test checks that exactly these
 * fields then reach the provider.
 */

/** Stands in for the connection that does not exist yet (ids only shape remote ids, never shown). */
const PREVIEW_CONNECTION_ID = '00000000-0000-4000-8000-000000000000';

export interface PreviewItem {
  /** The connector's item key, e.g. `event:<caseEventId>`. */
  key: string;
  caseId: string;
  /** The minimised fields, keyed by the registry's field names, exactly as the gate lets them out. */
  fields: Record<string, unknown>;
}

export interface ConsentPreview {
  /** How many items the choice would share in all. */
  total: number;
  /** The first items, in the order of their start. */
  items: PreviewItem[];
  /** Union of the field names that would leave. */
  fieldNames: string[];
}

/** The preview of a consent choice for one user and platform; `null` when the platform has no sync. */
export async function previewConsent(
  services: Services,
  params: {
    organizationId: string;
    userId: string;
    userEmail: string;
    platform: string;
    categories: CategoryId[];
    caseScope: CaseScope;
    settings?: Record<string, unknown>;
    limit: number;
  },
): Promise<ConsentPreview | null> {
  const connector = connectorFor(params.platform);
  if (!connector?.sync) return null;
  const categories = params.categories.filter((c) => connector.manifest.categories.includes(c));
  const consent: Consent = {
    id: PREVIEW_CONNECTION_ID,
    connectionId: PREVIEW_CONNECTION_ID,
    organizationId: params.organizationId,
    version: 0,
    grantedBy: params.userId,
    categories,
    caseScope: params.caseScope,
    policyVersion: CURRENT_POLICY_VERSION,
    method: 'consent_screen',
    ip: null,
    userAgent: null,
    attestations: {},
    grantedAt: new Date(0),
    withdrawnAt: null,
    withdrawnBy: null,
  };
  if (!categories.length) return { total: 0, items: [], fieldNames: [] };
  const connection = {
    id: PREVIEW_CONNECTION_ID,
    organizationId: params.organizationId,
    userId: params.userId,
    userEmail: params.userEmail,
    platform: connector.manifest.id,
    externalAccount: null,
    settings: params.settings ?? {},
  };
  const desired = await connector.sync.desired({ services, connection, consent });
  // A scope by practice area is decided on the cases' practice areas, read as the gate reads them.
  const practiceAreas = params.caseScope.kind === 'practice_areas' ? await practiceAreasOf(services, params.organizationId, desired) : undefined;
  // The item carries every category the platform can carry, the platform's first (required) one
  // first, as the connector's apply step does; the gate then strips what the consent leaves out.
  const itemCategories = connector.manifest.categories as [CategoryId, ...CategoryId[]];
  const allowed: PreviewItem[] = [];
  const names = new Set<string>();
  for (const d of desired) {
    const item: TransferItem = {
      operation: 'create',
      categories: itemCategories,
      subjects: d.subjects,
      recipient: { account: null, destination: null },
      fields: d.fields as Record<string, unknown>,
      itemKey: d.key,
    };
    const decision = decideTransfer({
      connection: { ...connection, status: 'active', disabledPlatforms: [] },
      consent: { kind: 'current', consent },
      item,
      purpose: 'preview',
      practiceAreas,
    });
    if (!decision.allowed) continue;
    for (const f of decision.fieldNames) names.add(f);
    allowed.push({ key: d.key, caseId: d.caseId, fields: decision.minimised });
  }
  allowed.sort((a, b) => String(a.fields.start ?? '').localeCompare(String(b.fields.start ?? '')) || a.key.localeCompare(b.key));
  return { total: allowed.length, items: allowed.slice(0, params.limit), fieldNames: [...names].sort() };
}

/** The practice areas of the cases the items name (one query). */
async function practiceAreasOf(services: Services, organizationId: string, items: ReadonlyArray<{ subjects: { caseIds: string[] } }>) {
  const ids = [...new Set(items.flatMap((i) => i.subjects.caseIds))];
  const areas = new Map<string, string | null>();
  if (!ids.length) return areas;
  const rows = await services.db
    .selectFrom('cases')
    .select(['id', 'practice_area'])
    .where('organization_id', '=', organizationId)
    .where('id', 'in', ids)
    .where('deleted_at', 'is', null)
    .execute();
  for (const r of rows) areas.set(r.id, r.practice_area);
  return areas;
}

/** The registry's categories a platform can carry, with their descriptions and fields. */
export function platformCategories(platform: string) {
  const connector = connectorFor(platform);
  return (connector?.manifest.categories ?? []).map((id) => CATEGORIES[id]);
}
