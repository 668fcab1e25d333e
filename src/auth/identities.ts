import { sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import type { OrganizationSettings } from '../db/types.ts';
import { verifiedGoogleDomainOwner } from './google-domains.ts';
import { SignInError } from './sign-in-error.ts';

/**
 * From a verified external login to a Casebridge user. Identities are namespaced by
 * (provider, issuer, subject); a new identity is linked to an existing user by verified e-mail only
 * inside one organization and only when that organization allows it, or provisioned just in time
 * when its policy says so. Only e-mail, name and picture URL are kept; the names of everything the
 * authenticator sent are recorded per login.
 */

export interface ExternalLogin {
  provider: 'google' | 'saml';
  issuer: string;
  subject: string;
  /** The e-mail the authenticator vouched for (callers pass only verified addresses). */
  email: string | null;
  name: string | null;
  picture: string | null;
  /** Names of every claim or attribute received, for the login record. */
  receivedAttributes: string[];
}

export interface ResolvedLogin {
  userId: string;
  organizationId: string;
  role: 'member' | 'admin';
  identityId: string;
  email: string;
  /** How the identity was matched. */
  via: 'identity' | 'linked_by_email' | 'provisioned' | 'sign_in_link';
}

interface OrgRow {
  id: string;
  settings: OrganizationSettings;
}

interface UserRow {
  id: string;
  organization_id: string;
  email: string;
  role: 'member' | 'admin';
  status: 'active' | 'disabled';
}

const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/** Whether the organization admits a Google account of this Workspace domain (`hd`). */
export function googleDomainAllowed(settings: OrganizationSettings, hd: string | null): boolean {
  const allowed = (settings.allowedGoogleDomains ?? []).map((d) => d.toLowerCase());
  if (allowed.length === 0) return true;
  return hd !== null && allowed.includes(hd.toLowerCase());
}

/** The login's identity in one organization (identities are unique per organization). */
async function findIdentity(db: Db | Tx, login: ExternalLogin, organizationId: string) {
  return db
    .selectFrom('identities')
    .select(['id', 'user_id', 'organization_id'])
    .where('organization_id', '=', organizationId)
    .where('provider', '=', login.provider)
    .where('issuer', '=', login.issuer)
    .where('subject', '=', login.subject)
    .executeTakeFirst();
}

/** The login's identities in every organization (a Google account may be linked in several). */
async function findIdentities(db: Db | Tx, login: ExternalLogin) {
  return db
    .selectFrom('identities')
    .select(['id', 'user_id', 'organization_id'])
    .where('provider', '=', login.provider)
    .where('issuer', '=', login.issuer)
    .where('subject', '=', login.subject)
    .execute();
}

async function loadOrg(db: Db | Tx, id: string): Promise<OrgRow | undefined> {
  return db.selectFrom('organizations').select(['id', 'settings']).where('id', '=', id).executeTakeFirst();
}

async function loadUser(db: Db | Tx, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').select(['id', 'organization_id', 'email', 'role', 'status']).where('id', '=', id).executeTakeFirst();
}

async function userByEmail(db: Db | Tx, organizationId: string, email: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .select(['id', 'organization_id', 'email', 'role', 'status'])
    .where('organization_id', '=', organizationId)
    .where(sql<string>`lower(email)`, '=', normalizeEmail(email))
    .executeTakeFirst();
}

/**
 * Links to the organization's user with this e-mail when the policy allows it, or provisions one.
 * Throws the reason when neither is allowed.
 */
async function linkOrProvision(tx: Tx, org: OrgRow, login: ExternalLogin): Promise<{ user: UserRow; via: ResolvedLogin['via'] }> {
  if (!login.email) {
    throw new SignInError('email_missing', 'the authenticator sent no verified e-mail address', { organizationId: org.id });
  }
  const existing = await userByEmail(tx, org.id, login.email);
  if (existing) {
    if (!org.settings.linkByEmail) {
      throw new SignInError('account_not_linked', 'a user with this e-mail exists, but the organization does not link new sign-in methods by e-mail', {
        organizationId: org.id,
        userId: existing.id,
        status: 403,
      });
    }
    return { user: existing, via: 'linked_by_email' };
  }
  if (!org.settings.jitProvisioning) {
    throw new SignInError('account_not_provisioned', 'no user with this e-mail exists in the organization', {
      organizationId: org.id,
      status: 403,
    });
  }
  const user = await tx
    .insertInto('users')
    .values({
      organization_id: org.id,
      email: normalizeEmail(login.email),
      name: login.name,
      picture_url: login.picture,
      role: org.settings.defaultRole === 'admin' ? 'admin' : 'member',
    })
    .returning(['id', 'organization_id', 'email', 'role', 'status'])
    .executeTakeFirstOrThrow();
  return { user, via: 'provisioned' };
}

/**
 * Upserts the identity, refreshes the kept profile values and writes the login record (exported for
 * sign-in links, which choose the user themselves).
 */
export async function recordLogin(tx: Tx, user: UserRow, login: ExternalLogin, via: ResolvedLogin['via']): Promise<ResolvedLogin> {
  if (user.status !== 'active') {
    throw new SignInError('user_disabled', 'this user has been disabled by an administrator', {
      organizationId: user.organization_id,
      userId: user.id,
      status: 403,
    });
  }
  const now = new Date();
  await tx
    .insertInto('identities')
    .values({
      organization_id: user.organization_id,
      user_id: user.id,
      provider: login.provider,
      issuer: login.issuer,
      subject: login.subject,
      email: login.email ? normalizeEmail(login.email) : null,
      last_login_at: now,
    })
    .onConflict((oc) => oc.columns(['organization_id', 'provider', 'issuer', 'subject']).doNothing())
    .execute();
  const identity = await findIdentity(tx, login, user.organization_id);
  if (!identity || identity.user_id !== user.id) {
    throw new SignInError('sign_in_conflict', 'this sign-in raced with another one; please try again', { status: 409 });
  }
  await tx
    .updateTable('identities')
    .set({ last_login_at: now, email: login.email ? normalizeEmail(login.email) : null })
    .where('id', '=', identity.id)
    .execute();
  const updates: { name?: string; picture_url?: string; updated_at: Date } = { updated_at: now };
  if (login.name) updates.name = login.name;
  if (login.picture) updates.picture_url = login.picture;
  await tx.updateTable('users').set(updates).where('id', '=', user.id).execute();
  await tx
    .insertInto('login_records')
    .values({
      organization_id: user.organization_id,
      user_id: user.id,
      identity_id: identity.id,
      provider: login.provider,
      received_attributes: JSON.stringify([...new Set(login.receivedAttributes)].sort()),
      kept: JSON.stringify({ email: login.email, name: login.name, picture: login.picture }),
    })
    .execute();
  return {
    userId: user.id,
    organizationId: user.organization_id,
    role: user.role,
    identityId: identity.id,
    email: user.email,
    via,
  };
}

/**
 * Google: the identity when known; else the organization whose verified claim holds the token's
 * `hd` (link or provision per its policy); else a user with this verified e-mail in exactly one
 * organization that allows linking by e-mail. `organizationHint` (from `/auth/google/start?org=`)
 * narrows every step to that organization — an identity or a domain claim of another organization
 * never lands the user elsewhere — and it never widens the choice.
 */
export async function resolveGoogleLogin(
  db: Db,
  login: ExternalLogin & { hd: string | null },
  options: { organizationHint?: string } = {},
): Promise<ResolvedLogin> {
  const hint = options.organizationHint;
  return db.transaction().execute(async (tx) => {
    const identities = await findIdentities(tx, login);
    if (!hint && identities.length > 1) {
      throw new SignInError('organization_ambiguous', "this Google account is linked in several organizations; sign in from your organization's link", {
        status: 409,
      });
    }
    const identity = hint ? identities.find((i) => i.organization_id === hint) : identities[0];
    if (identity) {
      const org = (await loadOrg(tx, identity.organization_id))!;
      if (!googleDomainAllowed(org.settings, login.hd)) throw domainRefused(org.id, login.hd);
      const user = (await loadUser(tx, identity.user_id))!;
      return recordLogin(tx, user, login, 'identity');
    }
    if (!login.email) throw new SignInError('email_missing', 'the Google account sent no verified e-mail address', { organizationId: hint ?? null });

    // Only a verified claim routes a domain: an organization cannot capture another's users by
    // typing their domain (claims are unique, and approved by the deployment's super admin).
    const hd = login.hd?.toLowerCase() ?? null;
    const owner = hd ? await verifiedGoogleDomainOwner(tx, hd) : null;
    if (owner && (!hint || owner === hint)) {
      const org = (await loadOrg(tx, owner))!;
      const { user, via } = await linkOrProvision(tx, org, login);
      return recordLogin(tx, user, login, via);
    }

    let candidates = await tx
      .selectFrom('users')
      .innerJoin('organizations', 'organizations.id', 'users.organization_id')
      .select(['users.id as userId', 'organizations.id as orgId', 'organizations.settings as settings'])
      .where(sql<string>`lower(users.email)`, '=', normalizeEmail(login.email))
      .execute();
    if (hint) candidates = candidates.filter((c) => c.orgId === hint);
    const linkable = candidates.filter((c) => c.settings.linkByEmail);
    if (linkable.length > 1) {
      throw new SignInError('organization_ambiguous', "this e-mail belongs to users of several organizations; sign in from your organization's link", {
        status: 409,
      });
    }
    const match = linkable[0];
    if (!match) {
      const only = candidates.length === 1 ? candidates[0] : undefined;
      throw new SignInError(
        candidates.length ? 'account_not_linked' : 'account_not_provisioned',
        candidates.length
          ? 'a user with this e-mail exists, but the organization does not link new sign-in methods by e-mail'
          : hint
            ? 'no user with this e-mail exists in the organization'
            : 'no organization knows this Google account',
        { status: 403, organizationId: only?.orgId ?? hint ?? null, userId: only?.userId ?? null },
      );
    }
    if (!googleDomainAllowed(match.settings, hd)) throw domainRefused(match.orgId, hd);
    const user = (await loadUser(tx, match.userId))!;
    return recordLogin(tx, user, login, 'linked_by_email');
  });
}

function domainRefused(organizationId: string, hd: string | null): SignInError {
  return new SignInError('oidc_domain_not_allowed', 'this Google account is not in a Workspace domain the organization allows', {
    organizationId,
    status: 403,
    details: { hd },
  });
}

/**
 * SAML: the organization is fixed by the ACS URL, and the identity is looked up in that organization
 * only — it belongs to the organization whose IdP configuration verified it, so another
 * organization configuring the same entity id cannot claim (or lock out) this one's users. A new
 * identity is linked or provisioned per the organization's policy.
 */
export async function resolveSamlLogin(db: Db, login: ExternalLogin, organizationId: string): Promise<ResolvedLogin> {
  return db.transaction().execute(async (tx) => {
    const org = await loadOrg(tx, organizationId);
    if (!org) throw new SignInError('saml_not_configured', 'unknown organization', { status: 400 });
    const identity = await findIdentity(tx, login, organizationId);
    if (identity) {
      const user = (await loadUser(tx, identity.user_id))!;
      return recordLogin(tx, user, login, 'identity');
    }
    const { user, via } = await linkOrProvision(tx, org, login);
    return recordLogin(tx, user, login, via);
  });
}

/** An identity as its organization's administrators see it. */
export interface IdentityView {
  id: string;
  userId: string;
  provider: 'google' | 'saml';
  issuer: string;
  subject: string;
}

/**
 * Unlinks an identity from a user of the organization (the next sign-in with it is resolved afresh
 * by the organization's policy). Returns what was removed, or null when the identity is not the
 * user's in this organization. The login records stay, without the link.
 */
export async function unlinkIdentity(db: Db, params: { organizationId: string; userId: string; identityId: string }): Promise<IdentityView | null> {
  const row = await db
    .deleteFrom('identities')
    .where('id', '=', params.identityId)
    .where('user_id', '=', params.userId)
    .where('organization_id', '=', params.organizationId)
    .returning(['id', 'user_id', 'provider', 'issuer', 'subject'])
    .executeTakeFirst();
  return row ? { id: row.id, userId: row.user_id, provider: row.provider, issuer: row.issuer, subject: row.subject } : null;
}
