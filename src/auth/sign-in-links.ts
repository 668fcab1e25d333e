import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import { type ExternalLogin, googleDomainAllowed, recordLogin, type ResolvedLogin } from './identities.ts';
import { SignInError } from './sign-in-error.ts';

/**
 * Single-use sign-in links: how a user nobody can sign in as yet (a new firm's first administrator,
 * created from the command line) gets a working sign-in without an admin session. The operator's
 * command prints `${PUBLIC_BASE_URL}/auth/link/<token>`; opening it starts a sign-in, and the first
 * successful sign-in whose verified e-mail equals the link's links that identity to the link's user
 * and uses the link up.
 *
 * The token is 256 random bits, kept only as its SHA-256 (like API keys). A link is bound to one
 * organization, one user and that user's e-mail; it works once and until it expires. Opening the
 * link page does not use it up (mail scanners fetch links), only a completed sign-in does.
 */

const TOKEN_PREFIX = 'cbl_';
/** base64url of 32 bytes, after the prefix. */
const TOKEN_SHAPE = /^cbl_[A-Za-z0-9_-]{43}$/;

/** The path a link's token is appended to. */
export const SIGN_IN_LINK_PATH = '/auth/link';

export function hashSignInToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The URL to hand to the person (shown once). */
export function signInLinkUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl.replace(/\/$/, '')}${SIGN_IN_LINK_PATH}/${token}`;
}

/** A link that can still be used, with what the sign-in page shows. */
export interface UsableSignInLink {
  id: string;
  organizationId: string;
  organizationName: string;
  userId: string;
  email: string;
  role: 'member' | 'admin';
  expiresAt: Date;
}

/** What a token names: a usable link, or why not. */
export type SignInLinkLookup =
  | { kind: 'usable'; link: UsableSignInLink }
  | { kind: 'unknown' }
  | { kind: 'used'; usedAt: Date }
  | { kind: 'expired'; expiresAt: Date }
  | { kind: 'user_disabled' };

/**
 * Issues a link for an existing user. Earlier unused links of the same user stop working (a new
 * link replaces a lost or leaked one). Returns the token once; only its hash is stored.
 */
export async function issueSignInLink(
  db: Db | Tx,
  params: { userId: string; ttlHours: number; createdBy: string; now?: Date },
): Promise<{ id: string; token: string; email: string; organizationId: string; expiresAt: Date }> {
  if (!Number.isFinite(params.ttlHours) || params.ttlHours <= 0) throw new RangeError('ttlHours must be positive');
  const now = params.now ?? new Date();
  const user = await db.selectFrom('users').select(['id', 'organization_id', 'email']).where('id', '=', params.userId).executeTakeFirstOrThrow();
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + params.ttlHours * 3_600_000);
  await db.deleteFrom('sign_in_links').where('user_id', '=', user.id).where('used_at', 'is', null).execute();
  const row = await db
    .insertInto('sign_in_links')
    .values({
      organization_id: user.organization_id,
      user_id: user.id,
      email: user.email.toLowerCase(),
      token_hash: hashSignInToken(token),
      created_by: params.createdBy,
      created_at: now,
      expires_at: expiresAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token, email: user.email.toLowerCase(), organizationId: user.organization_id, expiresAt };
}

/** Looks a token up without using it. Malformed tokens are simply unknown. */
export async function lookUpSignInLink(db: Db, token: string, now: Date = new Date()): Promise<SignInLinkLookup> {
  if (!TOKEN_SHAPE.test(token)) return { kind: 'unknown' };
  const row = await db
    .selectFrom('sign_in_links')
    .innerJoin('users', 'users.id', 'sign_in_links.user_id')
    .innerJoin('organizations', 'organizations.id', 'sign_in_links.organization_id')
    .select([
      'sign_in_links.id',
      'sign_in_links.organization_id',
      'sign_in_links.user_id',
      'sign_in_links.email',
      'sign_in_links.expires_at',
      'sign_in_links.used_at',
      'users.role',
      'users.status',
      'organizations.name as organization_name',
    ])
    .where('sign_in_links.token_hash', '=', hashSignInToken(token))
    .executeTakeFirst();
  if (!row) return { kind: 'unknown' };
  if (row.used_at) return { kind: 'used', usedAt: row.used_at };
  if (row.expires_at.getTime() <= now.getTime()) return { kind: 'expired', expiresAt: row.expires_at };
  if (row.status !== 'active') return { kind: 'user_disabled' };
  return {
    kind: 'usable',
    link: {
      id: row.id,
      organizationId: row.organization_id,
      organizationName: row.organization_name,
      userId: row.user_id,
      email: row.email,
      role: row.role,
      expiresAt: row.expires_at,
    },
  };
}

/**
 * Completes a sign-in started from a link (`linkId` comes from the server-side pre-login state, never
 * from the browser): in one transaction, with the link row locked so two sign-ins cannot both use
 * it, checks it is unused and unexpired, that the authenticator's verified e-mail is the link's and
 * that the identity is not another user's, links the identity to the link's user, records the login
 * and marks the link used. A refused sign-in leaves the link usable (the right person may still
 * come).
 */
export async function redeemSignInLink(
  db: Db,
  params: {
    linkId: string;
    login: ExternalLogin;
    /** Google's `hd` claim, checked against the organization's allowed Workspace domains. */
    hd?: string | null;
    /** For SAML: the organization whose IdP verified the login; the link must be that one's. */
    organizationId?: string;
    now?: Date;
  },
): Promise<ResolvedLogin> {
  const { login } = params;
  return db.transaction().execute(async (tx) => {
    const link = await tx
      .selectFrom('sign_in_links')
      .innerJoin('organizations', 'organizations.id', 'sign_in_links.organization_id')
      .select([
        'sign_in_links.id',
        'sign_in_links.organization_id',
        'sign_in_links.user_id',
        'sign_in_links.email',
        'sign_in_links.expires_at',
        'sign_in_links.used_at',
        'organizations.settings',
      ])
      .where('sign_in_links.id', '=', params.linkId)
      .forUpdate(['sign_in_links'])
      .executeTakeFirst();
    if (!link || (params.organizationId !== undefined && link.organization_id !== params.organizationId)) {
      throw new SignInError('sign_in_link_unknown', 'this sign-in link does not exist (any more)', { status: 404 });
    }
    const organizationId = link.organization_id;
    if (link.used_at) {
      throw new SignInError('sign_in_link_used', 'this sign-in link has already been used', { status: 410, organizationId, userId: link.user_id });
    }
    if (link.expires_at.getTime() <= (params.now ?? new Date()).getTime()) {
      throw new SignInError('sign_in_link_expired', 'this sign-in link has expired', { status: 410, organizationId, userId: link.user_id });
    }
    if (!login.email || login.email.trim().toLowerCase() !== link.email) {
      throw new SignInError('sign_in_link_email_mismatch', 'this sign-in link is for another e-mail address; sign in with that account', {
        status: 403,
        organizationId,
        userId: link.user_id,
      });
    }
    if (login.provider === 'google' && !googleDomainAllowed(link.settings, params.hd ?? null)) {
      // Linking an account the organization's policy would refuse at every later sign-in helps no one.
      throw new SignInError('oidc_domain_not_allowed', 'this Google account is not in a Workspace domain the organization allows', {
        status: 403,
        organizationId,
        details: { hd: params.hd ?? null },
      });
    }
    const existing = await tx
      .selectFrom('identities')
      .select(['user_id'])
      // Identities are per organization (migration 0011): another firm's link of the same account is its own.
      .where('organization_id', '=', organizationId)
      .where('provider', '=', login.provider)
      .where('issuer', '=', login.issuer)
      .where('subject', '=', login.subject)
      .execute();
    if (existing.some((i) => i.user_id !== link.user_id)) {
      throw new SignInError('identity_linked_elsewhere', 'this account is already linked to another Casebridge user', {
        status: 409,
        organizationId,
        userId: link.user_id,
      });
    }
    const user = await tx
      .selectFrom('users')
      .select(['id', 'organization_id', 'email', 'role', 'status'])
      .where('id', '=', link.user_id)
      .executeTakeFirstOrThrow();
    const resolved = await recordLogin(tx, user, login, 'sign_in_link');
    await tx.updateTable('sign_in_links').set({ used_at: sql<Date>`now()`, used_by_identity_id: resolved.identityId }).where('id', '=', link.id).execute();
    return resolved;
  });
}
