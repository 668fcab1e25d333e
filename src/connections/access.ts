import { manifestFor } from '../../connectors/manifests.ts';
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

/** Whether the platform is connected once for the whole organization (`manifest.level: 'organization'`). */
export function isOrganizationLevel(platform: string): boolean {
  return manifestFor(platform)?.level === 'organization';
}

/**
 * Who may see or change a connection's consent. A user-level connection: its owner reads and
 * writes; an administrator of its organization reads (`not_connection_owner` on a write). An
 * organization-level connection (e.g. the firm's document server): every administrator of the
 * organization reads and writes, a member reads and gets `admin_required` on a write. Any other
 * caller, and another organization's connection, get `not_found`, the same answer as an id that
 * never existed.
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
  if (row && isOrganizationLevel(row.platform)) {
    if (params.access === 'write' && principal.role !== 'admin') {
      throw new AuthError('admin_required', 'only an administrator may change the organization’s connection');
    }
    return row;
  }
  const own = row?.user_id === principal.userId;
  if (!row || (!own && principal.role !== 'admin')) throw new NotFoundError('connection');
  if (params.access === 'write' && !own) throw new AuthError('not_connection_owner', 'only the user who connected the account can change its consent');
  return row;
}

/**
 * Who may manage a connection — change its settings, sign in again, disconnect it: a user-level
 * connection only its owner (anyone else `not_found`); an organization-level connection any
 * administrator of its organization, not only the one who connected it (a member
 * `admin_required`). Another organization's connection is `not_found`.
 */
export async function connectionToManage(db: Db, params: { principal: UserPrincipal; connectionId: string }): Promise<AccessibleConnection> {
  const row = await db
    .selectFrom('connections')
    .select(['id', 'organization_id', 'user_id', 'platform', 'status', 'external_account'])
    .where('id', '=', params.connectionId)
    .where('organization_id', '=', params.principal.organizationId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('connection');
  if (isOrganizationLevel(row.platform)) {
    if (params.principal.role !== 'admin') throw new AuthError('admin_required', 'only an administrator may manage the organization’s connection');
    return row;
  }
  if (row.user_id !== params.principal.userId) throw new NotFoundError('connection');
  return row;
}
