import type { UserPrincipal } from '../auth/principal.ts';
import type { Db } from '../db/database.ts';
import type { ConnectionStatus } from '../db/types.ts';
import { AuthError } from '../errors/auth-error.ts';
import { NotFoundError } from '../errors/not-found-error.ts';

/** The connection facts an access check returns. */
export interface AccessibleConnection {
  id: string;
  organization_id: string;
  user_id: string;
  platform: string;
  status: ConnectionStatus;
  external_account: string | null;
}

/**
 * Who may see or change a connection's consent: its owner reads and writes; an administrator of its
 * organization reads (`not_connection_owner` on a write). Any other caller, and another
 * organization's connection, get `not_found`, the same answer as an id that never existed.
 */
export async function connectionForPrincipal(
  db: Db,
  params: { principal: UserPrincipal; connectionId: string; access: 'read' | 'write' },
): Promise<AccessibleConnection> {
  const { principal } = params;
  const row = await db
    .selectFrom('connections')
    .select(['id', 'organization_id', 'user_id', 'platform', 'status', 'external_account'])
    .where('id', '=', params.connectionId)
    .where('organization_id', '=', principal.organizationId)
    .executeTakeFirst();
  const own = row?.user_id === principal.userId;
  if (!row || (!own && principal.role !== 'admin')) throw new NotFoundError('connection');
  if (params.access === 'write' && !own) throw new AuthError('not_connection_owner', 'only the user who connected the account can change its consent');
  return row;
}
