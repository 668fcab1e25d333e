import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { type KeysetCursor, type KeysetSpec, keysetSql, nextKeysetCursor, UUID_KEY } from '../db/page-cursor.ts';
import { CasebridgeError } from '../errors/index.ts';
import type { UserPrincipal } from './principal.ts';

/**
 * Users of an organization as administrators see them, and the role/status changes they make.
 * Every function takes the organization id: a user of another organization is simply not found.
 */

export interface UserView {
  id: string;
  email: string;
  name: string | null;
  pictureUrl: string | null;
  role: 'member' | 'admin';
  status: 'active' | 'disabled';
  createdAt: Date;
  lastLoginAt: Date | null;
  identities: Array<{ id: string; provider: string; issuer: string; subject: string; lastLoginAt: Date | null }>;
}

export async function listUsers(db: Db, organizationId: string): Promise<UserView[]> {
  const users = await db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'picture_url', 'role', 'status', 'created_at'])
    .where('organization_id', '=', organizationId)
    .orderBy('email')
    .execute();
  return withIdentities(db, organizationId, users);
}

/** The cursor of the users list: by e-mail address, the id breaking ties. */
export const USER_CURSOR: KeysetSpec<'string'> = { sort: 'string', key: UUID_KEY };

/** One page of {@link listUsers}, by `(email, id)`. */
export async function listUsersPage(
  db: Db,
  params: { organizationId: string; limit: number; cursor: KeysetCursor<string> | null },
): Promise<{ items: UserView[]; nextCursor: string | null }> {
  const keyset = keysetSql({ sort: sql.ref('users.email'), key: sql.ref('users.id'), sortType: 'text', keyType: 'uuid', direction: 'asc' });
  let q = db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'picture_url', 'role', 'status', 'created_at'])
    .where('organization_id', '=', params.organizationId)
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(params.limit + 1);
  if (params.cursor) q = q.where(keyset.after(params.cursor));
  const rows = await q.execute();
  const items = await withIdentities(db, params.organizationId, rows.slice(0, params.limit));
  return { items, nextCursor: nextKeysetCursor(rows, params.limit, (u) => ({ sort: u.email, key: u.id })) };
}

type UserRow = {
  id: string;
  email: string;
  name: string | null;
  picture_url: string | null;
  role: UserView['role'];
  status: UserView['status'];
  created_at: Date;
};

async function withIdentities(db: Db, organizationId: string, users: UserRow[]): Promise<UserView[]> {
  if (!users.length) return [];
  const identities = await db
    .selectFrom('identities')
    .select(['id', 'user_id', 'provider', 'issuer', 'subject', 'last_login_at'])
    .where('organization_id', '=', organizationId)
    .where(
      'user_id',
      'in',
      users.map((u) => u.id),
    )
    .execute();
  return users.map((u) => {
    const own = identities.filter((i) => i.user_id === u.id);
    const times = own.map((i) => i.last_login_at?.getTime() ?? 0).filter((t) => t > 0);
    return {
      id: u.id,
      email: u.email,
      name: u.name,
      pictureUrl: u.picture_url,
      role: u.role,
      status: u.status,
      createdAt: u.created_at,
      lastLoginAt: times.length ? new Date(Math.max(...times)) : null,
      identities: own.map((i) => ({ id: i.id, provider: i.provider, issuer: i.issuer, subject: i.subject, lastLoginAt: i.last_login_at })),
    };
  });
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The organization's user named by id or by e-mail address (what the platform's backend knows), as
 * the member principal the user's own session would have; null when no active user of this
 * organization matches. Another organization's user is never found.
 */
export async function organizationUserAsPrincipal(db: Db, params: { organizationId: string; user: string }): Promise<UserPrincipal | null> {
  let q = db.selectFrom('users').select(['id', 'status']).where('organization_id', '=', params.organizationId);
  q = UUID_RE.test(params.user) ? q.where('id', '=', params.user) : q.where('email', '=', params.user.toLowerCase());
  const row = await q.executeTakeFirst();
  if (row?.status !== 'active') return null;
  // Read-only access as a member: the user's own rows, never the organization's.
  return { kind: 'user', userId: row.id, organizationId: params.organizationId, role: 'member', sessionId: '' };
}

export async function findUser(db: Db, organizationId: string, userId: string) {
  return db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'picture_url', 'role', 'status', 'organization_id'])
    .where('organization_id', '=', organizationId)
    .where('id', '=', userId)
    .executeTakeFirst();
}

export class LastAdminError extends CasebridgeError {
  constructor() {
    super('last_admin', 'the organization must keep at least one active administrator');
  }
}

/**
 * Changes a user's role and/or status in one transaction; refuses (LastAdminError) a change that
 * would leave the organization without an active administrator. Returns null when the user is not
 * in the organization; otherwise the before and after values.
 */
export async function updateUser(
  db: Db,
  params: { organizationId: string; userId: string; role?: 'member' | 'admin'; status?: 'active' | 'disabled' },
): Promise<{ before: { role: string; status: string }; after: { role: string; status: string } } | null> {
  return db.transaction().execute(async (tx) => {
    const user = await tx
      .selectFrom('users')
      .select(['id', 'role', 'status'])
      .where('organization_id', '=', params.organizationId)
      .where('id', '=', params.userId)
      .forUpdate()
      .executeTakeFirst();
    if (!user) return null;
    const after = { role: params.role ?? user.role, status: params.status ?? user.status };
    const losesAdmin = user.role === 'admin' && user.status === 'active' && (after.role !== 'admin' || after.status !== 'active');
    if (losesAdmin) {
      // Lock the organization's admins so two concurrent demotions cannot both pass the count.
      const admins = await tx
        .selectFrom('users')
        .select('id')
        .where('organization_id', '=', params.organizationId)
        .where('role', '=', 'admin')
        .where('status', '=', 'active')
        .forUpdate()
        .execute();
      if (admins.length <= 1) throw new LastAdminError();
    }
    await tx.updateTable('users').set({ role: after.role, status: after.status, updated_at: new Date() }).where('id', '=', user.id).execute();
    return { before: { role: user.role, status: user.status }, after };
  });
}
