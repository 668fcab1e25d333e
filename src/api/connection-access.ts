import type { Context } from 'hono';
import type { Services } from '../services.ts';
import type { AppEnv } from './env.ts';
import { ApiError } from './errors.ts';

interface ConnectionRow {
  id: string;
  organization_id: string;
  user_id: string;
  platform: string;
  status: string;
  external_account: string | null;
}

/**
 * The connection when the signed-in user may see it (own, or any in the organization for an admin
 * reading); 404 otherwise. Changing consent is for the connection's owner only (403 for an admin).
 */
export async function connectionFor(c: Context<AppEnv>, services: Services, id: string, access: 'read' | 'write'): Promise<ConnectionRow> {
  const p = c.get('principal');
  if (p?.kind !== 'user') throw new ApiError(401, 'unauthenticated', 'sign in first');
  const row = await services.db
    .selectFrom('connections')
    .select(['id', 'organization_id', 'user_id', 'platform', 'status', 'external_account'])
    .where('id', '=', id)
    .where('organization_id', '=', p.organizationId)
    .executeTakeFirst();
  const own = row?.user_id === p.userId;
  if (!row || (!own && p.role !== 'admin')) throw new ApiError(404, 'not_found', 'connection not found');
  if (access === 'write' && !own) {
    throw new ApiError(403, 'not_connection_owner', 'only the user who connected the account can change its consent');
  }
  return row;
}
