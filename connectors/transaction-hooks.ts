import type { Tx } from '../src/db/database.ts';
import { revokeIcalFeedTokens } from './ical/revoke.ts';

/**
 * The connectors' `revokeInTransaction` hooks, for the revocation service. A separate list from
 * `connectors/registry.ts` because the revocation service is imported by connectors (a feed is
 * revoked through it): this list must reach only leaf modules. Each registry entry points at the
 * same function; the architecture test checks the two agree.
 */
export const revokeInTransactionHooks: Array<(tx: Tx, params: { connectionIds: string[]; at: Date }) => Promise<void>> = [revokeIcalFeedTokens];
