import { caseInScope } from '../consent/case-scope.ts';
import { CATEGORIES, type CategoryId } from '../consent/categories.ts';
import type { Consent } from '../consent/service.ts';
import type { ConnectionStatus } from '../db/types.ts';
import type { BlockReason, TransferItem } from './types.ts';

/**
 * The gate's decision, as pure logic (no I/O): given the connection, its consent state and one item,
 * may the item leave, and which of its fields? Unit-tested on its own; the gate only adds loading,
 * logging and calling.
 */

/** What the gate knows about a connection at call time. */
export interface GateConnection {
  id: string;
  organizationId: string;
  userId: string;
  platform: string;
  status: ConnectionStatus;
  externalAccount: string | null;
  /** The organization's `settings.disabledPlatforms`. */
  disabledPlatforms: readonly string[];
}

/** The connection's consent: the current version, the last (withdrawn) one, or none ever granted. */
export type ConsentState = { kind: 'current'; consent: Consent } | { kind: 'withdrawn'; consent: Consent } | { kind: 'missing' };

export type Decision =
  | {
      allowed: true;
      /** Only the fields of consented categories among the item's categories. */
      minimised: Record<string, unknown>;
      /** The item's categories that were consented (the ones whose fields may leave). */
      categories: CategoryId[];
      fieldNames: string[];
      consent: Consent | null;
    }
  | {
      allowed: false;
      reason: BlockReason;
      /** What was attempted (recorded on the `blocked` row; none of it left). */
      categories: CategoryId[];
      fieldNames: string[];
      consent: Consent | null;
    };

/** The purpose under which the revocation pipeline removes remote copies. */
export const REVOCATION_PURGE = 'revocation_purge';

/** Field names present in a payload (members set to `undefined` count as absent). */
export function presentFields(fields: Record<string, unknown>): string[] {
  return Object.keys(fields)
    .filter((k) => fields[k] !== undefined)
    .sort();
}

/**
 * Decides one item. Order: connection state → organization's platform switch → consent present →
 * fields declared by the item's categories → first category consented → case scope → recipient's
 * opt-out → minimise.
 * Deletes skip the consent checks (removing data is minimisation); `revocation_purge` deletes also
 * pass on a revoked connection and a disabled platform; `provision` needs an active connection and a
 * current consent but no category.
 */
export function decideTransfer(params: {
  connection: GateConnection | null;
  consent: ConsentState;
  item: TransferItem;
  purpose: string;
  /** The item's recipient opted out (`recipient.suppressible` and on the organization's suppression list). */
  suppressed?: boolean;
  /** The practice area of each case the item names; needed when the consent's scope is by practice area (absent: out of scope). */
  practiceAreas?: ReadonlyMap<string, string | null>;
}): Decision {
  const { connection, consent, item, purpose } = params;
  const attemptedCategories = [...item.categories];
  const attemptedFields = presentFields(item.fields);
  const current = consent.kind === 'current' ? consent.consent : null;
  const block = (reason: BlockReason): Decision => ({
    allowed: false,
    reason,
    categories: attemptedCategories,
    fieldNames: attemptedFields,
    consent: consent.kind === 'missing' ? null : consent.consent,
  });

  const purge = item.operation === 'delete' && purpose === REVOCATION_PURGE;
  if (!connection) return block('connection_revoked');
  if (connection.status === 'revoked' && !purge) return block('connection_revoked');
  if (connection.status !== 'active' && connection.status !== 'revoked') return block('connection_not_active');
  if (!purge && connection.disabledPlatforms.includes(connection.platform)) return block('platform_disabled');

  // Every field must belong to one of the item's own categories: anything else is a connector bug
  // that would otherwise leak silently.
  const declared = new Set<string>();
  for (const c of item.categories) for (const f of CATEGORIES[c].fields) declared.add(f);
  if (attemptedFields.some((f) => !declared.has(f))) return block('field_not_in_registry');

  if (item.operation === 'delete') {
    // Deletes carry identifiers only; whatever fields they carry are still cut to the consent.
    return minimise(item, current, current);
  }
  if (!current) return block(consent.kind === 'withdrawn' ? 'consent_withdrawn' : 'consent_missing');
  if (item.operation === 'provision') return minimise(item, current, current);

  const [required] = item.categories;
  if (!required || !current.categories.includes(required)) return block('category_not_consented');
  if (current.caseScope.kind === 'cases') {
    const scope = new Set(current.caseScope.caseIds);
    if ((item.subjects.caseIds ?? []).some((id) => !scope.has(id))) return block('case_out_of_scope');
  } else if (current.caseScope.kind === 'practice_areas') {
    const scope = current.caseScope;
    if ((item.subjects.caseIds ?? []).some((id) => !caseInScope(scope, { id, practiceArea: params.practiceAreas?.get(id) }))) return block('case_out_of_scope');
  }
  if (params.suppressed) return block('recipient_suppressed');
  return minimise(item, current, current);
}

/** Keeps the fields of the item's categories that `by` consents to (none when `by` is null). */
function minimise(item: TransferItem, consent: Consent | null, by: Consent | null): Decision {
  const consented = by ? item.categories.filter((c) => by.categories.includes(c)) : [];
  const allowed = new Set<string>();
  for (const c of consented) for (const f of CATEGORIES[c].fields) allowed.add(f);
  const minimised: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item.fields)) if (v !== undefined && allowed.has(k)) minimised[k] = v;
  return { allowed: true, minimised, categories: consented, fieldNames: Object.keys(minimised).sort(), consent };
}
